"""Kernels planted to show what the benchmark command catches, on a GPU: `vector_add`
under its own name and bench cases, so that each is gated against the real baseline.

  SLOWED          the kernel launched twice per call: `--gate` must FAIL (exit 1).
  RETUNED         a worse launch constant (RETUNED_BLOCK elements a program, against
                  kernels.vector_add.BLOCK_SIZE): a real slowdown of the kind a tuning
                  change makes, which the gate should catch.
  WRONG_AT_LARGE  a launcher that caps its grid at MAX_PROGRAMS programs and never loops
                  over the rest: right on every size the correctness suite draws (up to
                  about 4M elements on a GPU), wrong past MAX_PROGRAMS * BLOCK_SIZE
                  (2**26), where only the benchmark's 2**28 goes. The bench must refuse it.

    python -m harness bench vector_add --ops tests.perf_plants:SLOWED --gate
"""

from __future__ import annotations

import dataclasses

import torch

from harness import Registry
from kernels._launch import cdiv
from kernels.vector_add import BLOCK_SIZE, vector_add, vector_add_kernel
from ops import OPS

RETUNED_BLOCK = 128
"""Elements a program for RETUNED: (measured on the H200, see the note of issue 9)."""
MAX_PROGRAMS = 1 << 16


def _twice(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    vector_add(x, y)
    return vector_add(x, y)


def _launcher(block: int, max_programs: int | None = None):
    def launch(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = x.contiguous(), y.contiguous()
        out = torch.empty_like(x)
        n = out.numel()
        if n > 0:
            programs = cdiv(n, block)
            if max_programs is not None:
                programs = min(programs, max_programs)  # the bug: the rest is never written
            vector_add_kernel[(programs,)](x, y, out, n, BLOCK_SIZE=block)
        return out

    return launch


def _registry(kernel, name: str) -> Registry:
    op = dataclasses.replace(OPS["vector_add"], kernel=kernel)
    return Registry([op], module=f"{__name__}:{name}")


SLOWED = _registry(_twice, "SLOWED")
RETUNED = _registry(_launcher(RETUNED_BLOCK), "RETUNED")
WRONG_AT_LARGE = _registry(_launcher(BLOCK_SIZE, MAX_PROGRAMS), "WRONG_AT_LARGE")
