"""Does each call of conv2d write its whole output, replayed ones too? On a GPU: the
ResNet 3 x 3 and 1 x 1 shapes (N = 32) and depthwise 3 x 3 and 7 x 7 ones (stride 1 and 2),
NCHW and channels-last, float16 and bfloat16. Before each
call the allocator is handed a NaN-filled block of the output's size, freed, so that an
output the call leaves unwritten comes back as NaN (the caching allocator reuses it);
each output is compared with a float32 convolution of the same inputs, and with cuDNN's.

    PYTHONPATH=. python benchmarks/conv_replay_check.py
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from kernels.conv2d import conv2d

SHAPES = [  # (N, C, H=W, K, R, stride, groups), padded by R // 2
    (32, 64, 56, 64, 3, 1, 1), (32, 128, 28, 128, 3, 1, 1), (32, 256, 14, 256, 3, 1, 1),
    (32, 256, 56, 64, 1, 1, 1), (32, 64, 56, 256, 1, 1, 1),
    (32, 256, 56, 256, 3, 1, 256), (32, 256, 56, 256, 3, 2, 256),
    (32, 256, 56, 256, 7, 1, 256), (32, 512, 28, 512, 3, 1, 512),
]  # fmt: skip


def main() -> None:
    torch.manual_seed(0)
    for dtype in (torch.float16, torch.bfloat16):
        for n, c, hw, k, r, stride, groups in SHAPES:
            x = torch.randn(n, c, hw, hw, device="cuda", dtype=dtype)
            w = torch.randn(k, c // groups, r, r, device="cuda", dtype=dtype)
            w /= (c // groups * r * r) ** 0.5
            conv = functools.partial(F.conv2d, stride=stride, padding=r // 2, groups=groups)
            ours_conv = functools.partial(conv2d, stride=stride, padding=r // 2, groups=groups)
            exact = conv(x.float(), w.float())
            for layout in ("nchw", "channels_last"):
                xs = x.contiguous(memory_format=torch.channels_last) if layout != "nchw" else x
                cudnn = conv(xs, w)
                cells = []
                for call in range(4):
                    poison = torch.full_like(exact, float("nan"), dtype=dtype)
                    del poison  # its block is the next output's, NaN unless written
                    ours = ours_conv(xs, w)
                    torch.cuda.synchronize()
                    nans = torch.isnan(ours).sum().item()
                    err = ((ours.float() - exact).abs().max() / exact.abs().max()).item()
                    same = torch.equal(ours, cudnn)
                    cells.append(f"call {call}: nan={nans} err={err:.2e} equal_cudnn={same}")
                cudnn_err = ((cudnn.float() - exact).abs().max() / exact.abs().max()).item()
                shape = (n, c, hw, k, r, stride, groups)
                print(f"{str(dtype)[6:]} {shape} {layout}: cudnn err={cudnn_err:.2e}; "
                      + "; ".join(cells), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
