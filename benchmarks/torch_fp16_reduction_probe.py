"""What the night run's ReferenceWarning on matmul[float16] with tiny values is (H100,
2026-12-07b): PyTorch's tier missed the bound of `out` on 256 of 1034 elements (worst
err/bound 3.29) where the kernel met it, on (M, K, N) = (517, 4093, 2), A strided,
values N(0, 1) times 8 smallest normals of float16.

The cause, confirmed on an H100 (2026-12-07c: flag on, err/bound 3.29 on 256 elements as
in the night run; off, 0.433 and none, as the kernel): PyTorch lets cuBLAS reduce float16
products in reduced precision by default
(`torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction`, True unless set):
with K = 4093 and two columns, cuBLAS may split K and add the pieces' partial sums each
rounded to float16, where values this small round to multiples of 2**-24 (the subnormal
step): an error the op's model (one rounding of the float32 sum) does not allow.

On a GPU this runs that case, and the same matmul at other shapes, with the flag on and
off, and prints the PyTorch tier's and the kernel's worst err/bound and how many
elements miss, as the harness judges them:

    PYTHONPATH=. python benchmarks/torch_fp16_reduction_probe.py

`--emulate` needs no GPU: the night case in interpret mode, the PyTorch tier replaced by
a K split into S pieces whose float16 partial sums are added in float16 (and, beside it,
in float32), S = 1 to 16. On this machine (2026-12-07, interpret-mode bounds) 8 pieces
in float16 gave err/bound 3.23 on 279 elements, the night run's 3.29 on 256; float32
partial sums stayed at 0.602, the exact product's rounding.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
from collections.abc import Callable

if "--emulate" in sys.argv:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # read when kernels are decorated

import torch

from harness.compare import run_case
from harness.op import Case
from ops import OPS

NIGHT_CASE = (
    '{"dtype": "float16", "op": "matmul", "params": {"activation": null, "b_layout": '
    '"contiguous", "bias": false, "layout": "strided", "precision": "tf32", "specials": '
    'false, "values": "tiny"}, "seed": 1306186, "shape": [517, 4093, 2]}'
)
SHAPES = ((517, 4093, 2), (517, 4093, 64), (512, 16384, 2), (64, 512, 64))
"""The night case's shape, then wider, longer and shorter products of the same values."""


def _cases() -> list[Case]:
    night = Case.from_json(NIGHT_CASE)
    return [dataclasses.replace(night, shape=shape) for shape in SHAPES]


def _row(label: str, case: Case, mode: str, device: str, torch_ref: Callable | None = None):
    op = OPS["matmul"]
    if torch_ref is not None:
        op = dataclasses.replace(op, torch_ref=torch_ref)
    result = run_case(op, case, mode, device, "ops")
    ours, theirs = result.worst("kernel"), result.worst("torch")
    print(
        f"{case.shape!s:16} {label:24} {theirs.max_err:9.3g} {theirs.n_bad:5} of "
        f"{theirs.numel:<6} {ours.max_err:9.3g}",
        flush=True,
    )


def split_k(pieces: int, partials: torch.dtype) -> Callable[..., torch.Tensor]:
    """A @ B with K cut into `pieces`, each piece's sum exact then rounded to `partials`,
    the pieces added in `partials`, the total rounded to A's dtype."""

    def matmul(a: torch.Tensor, b: torch.Tensor, *_args, **_kwargs) -> torch.Tensor:
        k = a.shape[-1]
        edges = [round(i * k / pieces) for i in range(pieces + 1)]
        total = torch.zeros((), dtype=partials)
        for lo, hi in itertools.pairwise(edges):
            piece = a[..., lo:hi].double() @ b[..., lo:hi, :].double()
            total = total + piece.float().to(partials)
        return total.to(a.dtype)

    return matmul


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emulate", action="store_true", help="split-K emulated, no GPU")
    args = parser.parse_args()
    print("(M, K, N)        PyTorch tier             err/bound misses        kernel")
    if args.emulate:
        night = Case.from_json(NIGHT_CASE)
        for pieces in (1, 2, 4, 8, 16):
            for partials in (torch.float16, torch.float32):
                label = f"K in {pieces}, {str(partials)[6:]} sums"
                _row(label, night, "interpret", "cpu", split_k(pieces, partials))
        return
    flags = torch.backends.cuda.matmul
    saved = flags.allow_fp16_reduced_precision_reduction
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, the flag's default {saved}")
    try:
        for case in _cases():
            for reduced in (True, False):
                flags.allow_fp16_reduced_precision_reduction = reduced
                _row(f"reduced precision {reduced}", case, "gpu", "cuda")
    finally:
        flags.allow_fp16_reduced_precision_reduction = saved


if __name__ == "__main__":
    main()
