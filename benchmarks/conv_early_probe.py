"""conv2d launched early after its copies (kernels.conv2d.EARLY_AFTER_COPIES), against
the same calls launched in order, alternating in one process.

    python benchmarks/conv_early_probe.py [--rounds 3] [--dtype float16]

For each stride-1 3 x 3 shape of vendor.py's CONV_SHAPES, in both layouts: each round
times the call with the early launch off, then on, each three ways as `vendor.py
conv2d-cold` does (do_bench with its L2 flush left dirty, after a 256 MB read, replayed
from a CUDA graph), then its host time (20 back-to-back calls) and how many signatures
`_forward` keeps replays for; cuDNN's once a round, for scale. One measurement of 64 x
56^2 channels-last (dirty) took 114 us against 33 clean (2026-12-05f, call 9): is it the
early launch, does it come back, and is it a call the GPU waited for (a call planned in
full costs hundreds of us of host, which a timing with the L2 flush before it partly
hides)?
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

import kernels.conv2d as conv
from benchmarks.vendor import DTYPES, clean_cold_ms, first_call_s, graph_ms, ms
from harness.perf.timing import CudaEventTimer

SHAPES = [(32, 64, 56, 64), (32, 128, 28, 128), (32, 256, 14, 256)]  # N, C, H = W, K


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="float16", choices=sorted(DTYPES))
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    timings = (("dirty", ms), ("clean", clean_cold_ms), ("warm", graph_ms))
    for n, c, hw, k in SHAPES:
        x = torch.randn(n, c, hw, hw, device="cuda", dtype=DTYPES[args.dtype])
        w = torch.randn(k, c, 3, 3, device="cuda", dtype=DTYPES[args.dtype])
        for layout in ("nchw", "channels_last"):
            xl = x.contiguous(memory_format=torch.channels_last) if layout != "nchw" else x
            ours = lambda xl=xl, w=w: conv.conv2d(xl, w, None, 1, 1)
            cudnn = lambda xl=xl, w=w: F.conv2d(xl, w, None, 1, 1)
            for r in range(args.rounds):
                cells = []
                for early in (False, True):
                    conv.EARLY_AFTER_COPIES = early
                    first_call_s(ours)
                    us = [f"{1e3 * t(ours):6.1f}" for _, t in timings]
                    # Whether the call is replayed, and its host time: a call planned in
                    # full costs hundreds of us of host, which a timing can absorb.
                    kept = len(conv._forward.replays._by_signature)
                    host = 1e3 * CudaEventTimer().host_ms_per_call(ours)
                    cells.append(f"early={int(early)} " + "/".join(us)
                                 + f" host {host:5.1f} kept {kept}")  # fmt: skip
                first_call_s(cudnn)
                theirs = "/".join(f"{1e3 * t(cudnn):6.1f}" for _, t in timings)
                print(f"{(n, c, hw, k)} {layout:13s} round {r}: " + "  ".join(cells)
                      + f"  cudnn {theirs}  (us dirty/clean/warm)")  # fmt: skip
    conv.EARLY_AFTER_COPIES = True


if __name__ == "__main__":
    main()
