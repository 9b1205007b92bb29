"""Does each call of conv2d write its whole output, replayed ones too? On a GPU: the
ResNet 3 x 3 and 1 x 1 shapes (N = 32), NCHW and channels-last, float16 and bfloat16. Before each
call the allocator is handed a NaN-filled block of the output's size, freed, so that an
output the call leaves unwritten comes back as NaN (the caching allocator reuses it);
each output is compared with a float32 convolution of the same inputs, and with cuDNN's.

    PYTHONPATH=. python benchmarks/conv_replay_check.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.conv2d import conv2d

SHAPES = [  # (N, C, H=W, K, R), padded by R // 2
    (32, 64, 56, 64, 3), (32, 128, 28, 128, 3), (32, 256, 14, 256, 3),
    (32, 256, 56, 64, 1), (32, 64, 56, 256, 1),
]  # fmt: skip


def main() -> None:
    torch.manual_seed(0)
    for dtype in (torch.float16, torch.bfloat16):
        for n, c, hw, k, r in SHAPES:
            x = torch.randn(n, c, hw, hw, device="cuda", dtype=dtype)
            w = torch.randn(k, c, r, r, device="cuda", dtype=dtype) / (c * r * r) ** 0.5
            exact = F.conv2d(x.float(), w.float(), padding=r // 2)
            for layout in ("nchw", "channels_last"):
                xs = x.contiguous(memory_format=torch.channels_last) if layout != "nchw" else x
                cudnn = F.conv2d(xs, w, padding=r // 2)
                cells = []
                for call in range(4):
                    poison = torch.full_like(exact, float("nan"), dtype=dtype)
                    del poison  # its block is the next output's, NaN unless written
                    ours = conv2d(xs, w, padding=r // 2)
                    torch.cuda.synchronize()
                    nans = torch.isnan(ours).sum().item()
                    err = ((ours.float() - exact).abs().max() / exact.abs().max()).item()
                    same = torch.equal(ours, cudnn)
                    cells.append(f"call {call}: nan={nans} err={err:.2e} equal_cudnn={same}")
                cudnn_err = ((cudnn.float() - exact).abs().max() / exact.abs().max()).item()
                print(f"{str(dtype)[6:]} {(n, c, hw, k, r)} {layout}: cudnn err={cudnn_err:.2e}; "
                      + "; ".join(cells), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
