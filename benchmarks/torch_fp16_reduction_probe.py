"""What the night run's ReferenceWarning on matmul[float16] with tiny values is (H100,
2026-12-07b): PyTorch's tier missed the bound of `out` on 256 of 1034 elements (worst
err/bound 3.29) where the kernel met it, on (M, K, N) = (517, 4093, 2), A strided,
values N(0, 1) times 8 smallest normals of float16.

The suspect: PyTorch lets cuBLAS reduce float16 products in reduced precision by default
(`torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction`, True unless set):
with K = 4093 and two columns, cuBLAS may split K and add the pieces' float16 partial
sums, each rounded to float16, where values this small round to multiples of 2**-24 (the
subnormal step): an error the op's model (one rounding of the float32 sum) does not
allow. This runs that case, and the same matmul at other K, with the flag on and off,
and prints the PyTorch tier's and the kernel's worst err/bound and how many elements
miss, as the harness judges them:

    PYTHONPATH=. python benchmarks/torch_fp16_reduction_probe.py

Off and within the bound on every row would confirm the suspect; a miss with the flag off
would not.
"""

from __future__ import annotations

import json

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
    return [night] + [
        Case.from_json(json.dumps({**json.loads(NIGHT_CASE), "shape": list(shape)}))
        for shape in SHAPES[1:]
    ]


def main() -> None:
    flags = torch.backends.cuda.matmul
    saved = flags.allow_fp16_reduced_precision_reduction
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; the default: {saved}")
    print("(M, K, N)            reduced  torch err/bound  torch misses  kernel err/bound")
    try:
        for case in _cases():
            for reduced in (True, False):
                flags.allow_fp16_reduced_precision_reduction = reduced
                result = run_case(OPS["matmul"], case, "gpu", "cuda", "ops")
                ours, theirs = result.worst("kernel"), result.worst("torch")
                print(
                    f"{case.shape!s:20} {reduced!s:7} {theirs.max_err:15.3g} "
                    f"{theirs.n_bad:6} of {theirs.numel:<6} {ours.max_err:15.3g}",
                    flush=True,
                )
    finally:
        flags.allow_fp16_reduced_precision_reduction = saved


if __name__ == "__main__":
    main()
