"""One launch of each depthwise kernel on a ResNet/MobileNet-sized problem, for a profiler.

    ncu --section SpeedOfLight -k regex:depthwise -c 12 python benchmarks/depthwise_probe.py

float16, N = 32, C = 256, 56 x 56, stride 1: 7 x 7 then 3 x 3, NCHW (the plane kernel's
programs walking tiles down the plane, strips loaded as vectors, and one-column strips)
then channels-last (the pixels x filters kernel's strips, in 2 rows and in 1), each with
one forced config so that the profiler sees the launch itself, not the autotuner's
trials. With `--time`, each is also timed (do_bench, median) and printed as a share of a
copy's time: x's clone, timed in the same process, its time scaled to the bytes the
convolution moves (x read once, out written once; the same bytes at stride 1, 5/8 of
them at stride 2). `--shape N,C,HW,R,STRIDE` (repeatable) profiles those problems
instead, each under every `--design` given (default: the forced list above, by layout),
e.g. the designs the tuner chose for them in `vendor.py depthwise`.
"""

from __future__ import annotations

import argparse
import functools

import torch
import triton

from kernels import _plans
from kernels.conv2d import conv2d

FORCED = [
    ("nchw", "conv2d/plane-16x64x8-r4-t4-w1-s1/gpu"),
    ("nchw", "conv2d/plane-8x64x8-r2-t7-w1-s1/gpu"),
    ("nchw", "conv2d/plane-32x32x4-r8-t2-w1-s1/gpu"),
    ("nchw", "conv2d/plane-8x64-r8-t7-w2-s1/gpu"),
    ("channels_last", "conv2d/depthwise-8x64x8-r2-w4-s1/gpu"),
    ("channels_last", "conv2d/depthwise-8x128x8-w4-s1/gpu"),
]


def reads_channels_last(design: str) -> bool:
    """Whether a forced design reads channels-last x (the pixels x filters kernel's
    configs), not NCHW."""
    return "/depthwise-" in design


def problem_shape(text: str) -> tuple[int, ...]:
    """N,C,HW,R,STRIDE."""
    values = tuple(int(v) for v in text.split(","))
    if len(values) != 5:
        raise argparse.ArgumentTypeError(f"--shape {text!r}: expected N,C,HW,R,STRIDE")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", action="store_true")
    parser.add_argument("--shape", type=problem_shape, action="append", help="N,C,HW,R,STRIDE")
    parser.add_argument("--design", action="append", help="a forced design, e.g. conv2d/...")
    args = parser.parse_args()
    shapes = args.shape or [(32, 256, 56, r, 1) for r in (7, 3)]
    forced = FORCED
    if args.design:
        forced = [("channels_last" if reads_channels_last(d) else "nchw", d) for d in args.design]
    for n, c, hw, r, stride in shapes:
        x = torch.randn(n, c, hw, hw, device="cuda", dtype=torch.float16)
        w = torch.randn(c, 1, r, r, device="cuda", dtype=torch.float16)
        for layout, design in forced:
            src = x.contiguous(memory_format=torch.channels_last) if layout != "nchw" else x
            with _plans.forcing(design), _plans.recording() as launched:
                run = functools.partial(conv2d, src, w, None, stride, r // 2, 1, c)
                run()
                torch.cuda.synchronize()
                if launched != [design]:  # the forced design does not apply: say what ran
                    print(f"{(n, c, hw, r, stride)} {layout} {design}: ran {launched}")
                if args.time:
                    moved = (src.numel() + run().numel()) * src.element_size()
                    copy = triton.testing.do_bench(src.clone, return_mode="median")
                    copy *= moved / (2 * src.numel() * src.element_size())
                    ours = triton.testing.do_bench(run, return_mode="median")
                    share = f"{ours * 1e3:.1f} us, {copy / ours:.0%} of copy"
                    print(f"{(n, c, hw, r, stride)} {layout} {design}: {share}", flush=True)


if __name__ == "__main__":
    main()
