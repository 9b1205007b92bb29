"""How many rows of equal values LayerNorm's forward does not center exactly: each of 64
rows holds one value (1e4 * randn, seed 0) repeated, and the row's mean should be that
value. Run in Triton's interpreter, each design forced (whole rows, looped).

    PYTHONPATH=. python benchmarks/equal_rows_probe.py

At cc7a39e (the mean from the row's float32 sum alone) this CPU counted 44-48 of 64
float32 rows of 1000 and 1023 off, 62 of 65535; float16 none at 1000 and 1023, 15-23 of
65535. Since c5f80b5 (`kernels.layer_norm._corrected_mean`): none of them, and
tests/test_layer_norm_module.py asserts it.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # read when kernels are decorated

import torch

from kernels import _plans
from kernels.layer_norm import layer_norm

gen = torch.Generator().manual_seed(0)
for dtype in (torch.float32, torch.float16):
    for n in (1000, 1023, 65535):
        for design in ("whole", "looped"):
            values = (torch.randn(64, generator=gen) * 1e4).to(dtype)
            x = values[:, None].expand(64, n).contiguous()
            ones, zeros = torch.ones(n, dtype=dtype), torch.zeros(n, dtype=dtype)
            with _plans.forcing(f"layer_norm/{design}/interpret"):
                _, mean, _ = layer_norm(x, ones, zeros, 1e-6)
            off = (mean != values.float()).nonzero().flatten()
            print(dtype, n, design, "rows off:", len(off), [values[i].item() for i in off[:4]])
