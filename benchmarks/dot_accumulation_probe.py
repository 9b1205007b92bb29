"""How a float32 accumulator's error grows in a long tl.dot on the GPU's tensor cores.

The harness bounded a sum's accumulated error by min(depth, LAMBDA sqrt(depth)) u(float32)
sum |a b|, where the probabilistic part assumes roundings to nearest, mean-zero
(harness/tolerance.py). A GPU night run (benchmarks/results/2026-12-06f-h100) failed a
bfloat16 matmul of K = 133003 on non-negative values by 1.13x that bound. This measures,
on non-negative inputs (no cancellation: errors of one sign add up), for each K:

- dot: a (64, K) @ (K, 16) product of 16-bit operands, tl.dot over K in steps of 64 into
  a float32 accumulator, stored in float32;
- fma: the same products as a broadcast multiply and a tl.sum per step, added to the same
  accumulator: float32 arithmetic as written, which Triton 3.6 lowers to tf32 tensor-core
  steps of 8 (`--offline`: 8 HGMMA a step of 64 and no FFMA, against dot's 4), so it
  measures tf32 on values that tf32 holds exactly;

and prints, per K, the worst |c - exact| / (u(float32) sum |a b|) of each (the depth the
error behaves as) and its mean signed value (a bias shows roundings that are not to
nearest), beside ceil(K / 16) and LAMBDA sqrt(K). `exact` is the float64 product on the
GPU.

    PYTHONPATH=. python benchmarks/dot_accumulation_probe.py [--offline]

`--offline` compiles both for sm_90 without a GPU (benchmarks/compile_offline.py's
stand-in driver) and counts their SASS multiply instructions.

On an H100 (2026-12-06f call 3, Triton 3.6) both grew linearly in K and one-signed (mean
within 2-25% of the worst, always below the exact value): dot's worst 0.58-1.54 ceil(K /
16) in bfloat16, 1.59-1.63 ceil(K / 16) in float16, past LAMBDA sqrt(K) from K = 65536
and 8192 on; fma (tf32) 0.45-0.95 ceil(K / 8).
"""

from __future__ import annotations

import math
import sys

import torch
import triton
import triton.language as tl

from harness.tolerance import LAMBDA

U32 = 2.0**-24
KS = (1024, 8192, 65536, 133003, 262144)
BLOCK_M, BLOCK_N, BLOCK_K = 64, 16, 64


@triton.jit
def _accumulate(a_ptr, b_ptr, c_ptr, K, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                BLOCK_K: tl.constexpr, TENSOR_CORES: tl.constexpr):  # fmt: skip
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_N)
    ks = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k_ok = k0 + ks < K
        a = tl.load(a_ptr + rows[:, None] * K + (k0 + ks)[None, :], mask=k_ok[None, :], other=0.0)
        b = tl.load(b_ptr + (k0 + ks)[:, None] * BLOCK_N + cols[None, :], mask=k_ok[:, None],
                    other=0.0)  # fmt: skip
        if TENSOR_CORES:
            acc = tl.dot(a, b, acc)
        else:
            products = a.to(tl.float32)[:, :, None] * b.to(tl.float32)[None, :, :]
            acc += tl.sum(products, axis=1)
    tl.store(c_ptr + rows[:, None] * BLOCK_N + cols[None, :], acc)


def main() -> None:
    print(torch.cuda.get_device_name(), "triton", triton.__version__)
    gen = torch.Generator(device="cuda").manual_seed(0)
    for dtype in (torch.bfloat16, torch.float16):
        for k in KS:
            a = torch.rand(2 * BLOCK_M, k, device="cuda", generator=gen).to(dtype)
            b = torch.rand(k, BLOCK_N, device="cuda", generator=gen).to(dtype)
            exact = a.double() @ b.double()  # non-negative: sum |a b| is the result
            line = f"{str(dtype)[6:]:<9} K={k:<7} ceil(K/16)={math.ceil(k / 16):<6} "
            line += f"LAMBDA sqrt(K)={LAMBDA * math.sqrt(k):7.0f}"
            for name, tensor_cores in (("dot", True), ("fma", False)):
                c = torch.full((2 * BLOCK_M, BLOCK_N), float("nan"), device="cuda")
                _accumulate[(2,)](a, b, c, k, BLOCK_M, BLOCK_N, BLOCK_K, tensor_cores)
                depth = (c.double() - exact) / (U32 * exact)
                worst, mean = float(depth.abs().max()), float(depth.mean())
                line += f"  {name}: worst {worst:8.1f} mean {mean:+8.1f}"
            print(line, flush=True)


def offline() -> None:
    from benchmarks.sass_loop import compile_only, opcodes, sass

    compiled = compile_only(90)
    k = 4096
    a, b = torch.rand(2 * BLOCK_M, k).bfloat16(), torch.rand(k, BLOCK_N).bfloat16()
    for name, tensor_cores in (("dot", True), ("fma", False)):
        _accumulate[(2,)](a, b, torch.empty(2 * BLOCK_M, BLOCK_N), k, BLOCK_M, BLOCK_N,
                          BLOCK_K, tensor_cores)  # fmt: skip
        counts = opcodes(sass(compiled[-1][1].asm["cubin"]))
        shown = {op: n for op, n in sorted(counts.items()) if "MMA" in op or op[:2] == "FF"}
        print(f"{name}: {shown or 'no MMA or FFMA'}")


if __name__ == "__main__":
    offline() if "--offline" in sys.argv[1:] else main()
