"""kernels/dropout.py on a GPU: checked, then timed against PyTorch's dropout and a copy.

PyTorch's `F.dropout` draws other random numbers (its generator's), so it cannot be the
op's PyTorch tier (references/dropout.py re-implements Triton's Philox in PyTorch
instead, far slower); it is what a PyTorch user runs, so it is what the kernel is timed
against. Each size and dtype, in one process: the kernel checked bit for bit against the
PyTorch twin on the timed input (a finite one: the twin computes in float32 as the
kernel does) with its output poisoned first, then the medians of `do_bench` (L2 flushed
before each call) for

- copy: `out.copy_(x)`, the floor of a kernel that reads x once and writes once;
- ours: `kernels.dropout.dropout(x, p, seed)`, one launch;
- ours, per element: the tutorial's draw, `tl.rand` per element (four times the
  Philox work), in the same kernel otherwise (`per_element_kernel` below);
- torch: `F.dropout(x, p)`, PyTorch's fused CUDA kernel;

each as % of the copy, and ours against PyTorch.

    PYTHONPATH=. python benchmarks/dropout_probe.py [--offline]

`--offline` compiles both kernels for sm_90 without a GPU and prints their registers and
SASS instructions, a thread's and an element's (benchmarks/sass_loop).
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from kernels import dropout as dropout_module
from kernels.dropout import BLOCK_SIZE, NUM_WARPS, dropout
from references.dropout import dropout_torch

SIZES = (1 << 24, 1 << 26, 1 << 28)
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
P, SEED = 0.1, 1234


@triton.jit
def per_element_kernel(x_ptr, out_ptr, n_elements, seed, p, scale, BLOCK_SIZE: tl.constexpr):
    """The tutorial's dropout: a uniform per element from its own Philox counter."""
    offsets = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    keep = tl.rand(seed, offsets) >= p
    y = tl.where(keep, x.to(tl.float32) * scale, 0.0)
    tl.store(out_ptr + offsets, y.to(out_ptr.dtype.element_ty), mask=mask)


def _per_element(x: torch.Tensor, out: torch.Tensor) -> None:
    grid = (triton.cdiv(x.numel(), BLOCK_SIZE),)
    per_element_kernel[grid](x, out, x.numel(), SEED, P, 1 / (1 - P), BLOCK_SIZE=BLOCK_SIZE,
                             num_warps=NUM_WARPS)  # fmt: skip


def _offline() -> None:
    from benchmarks.compile_offline import _resources
    from benchmarks.sass_loop import compile_only, opcodes, sass

    compiled = compile_only(90)
    x = torch.randn(1 << 16).half()
    dropout(x, P, SEED)
    _per_element(x, torch.empty_like(x))
    for name, kernel in compiled[-2:]:
        registers, spills, _ = _resources(kernel.asm["ptx"], 90)
        counts = opcodes(sass(kernel.asm["cubin"]))
        per_element = sum(counts.values()) * 32 * NUM_WARPS / BLOCK_SIZE
        top = ", ".join(f"{op} {n}" for op, n in counts.most_common(6))
        print(f"{name}: {registers} registers, {spills} B spilled, {sum(counts.values())} "
              f"instructions a thread ({per_element:.1f} an element): {top}")  # fmt: skip


def _timed(x: torch.Tensor) -> tuple[dict[str, float], bool]:
    """Microseconds (medians) of each call on x, and whether the kernel's output, poisoned
    first, equals the PyTorch twin's bit for bit."""
    from triton.testing import do_bench

    out = torch.full_like(x, float("nan"))
    out.copy_(dropout(x, P, SEED))
    same = torch.equal(out, dropout_torch(x, P, SEED))
    calls = {
        "copy": lambda: out.copy_(x),
        "ours": lambda: dropout(x, P, SEED),
        "ours, per element": lambda: _per_element(x, out),
        "torch": lambda: F.dropout(x, P),
    }
    return {name: 1e3 * do_bench(fn, return_mode="median") for name, fn in calls.items()}, same


def main() -> None:
    print(torch.cuda.get_device_name(), "triton", triton.__version__, "torch", torch.__version__)
    print(f"p = {P}; BLOCK_SIZE {dropout_module.BLOCK_SIZE}, {dropout_module.NUM_WARPS} warps")
    gen = torch.Generator(device="cuda").manual_seed(0)
    for dtype in DTYPES:
        for n in SIZES:
            us, same = _timed(torch.randn(n, device="cuda", dtype=dtype, generator=gen))
            cells = "  ".join(f"{name} {t:.1f} us ({us['copy'] / t:.0%})" for name, t in us.items())
            print(f"{str(dtype)[6:]:<8} 2**{n.bit_length() - 1}: {cells}  "
                  f"ours/torch {us['torch'] / us['ours']:.2f}x  equal to the twin: {same}",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    _offline() if "--offline" in sys.argv else main()
