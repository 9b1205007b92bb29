"""Call 9: layer_norm's forward at 4096 x 1024 in 16 bits against F.layer_norm, timed as
benchmarks/tune_rowwise.py times (L2 flushed, the host hidden). Run from a tree's root with
PYTHONPATH=. (this one, then main before the corrected mean copied to .base/), twice."""

import sys

import torch
import torch.nn.functional as F

sys.argv = sys.argv[:1]  # tune_rowwise reads its sweeps from argv only as a script

import benchmarks.tune_rowwise as tune  # noqa: E402
import kernels.layer_norm as ln  # noqa: E402

for dtype in (torch.float16, torch.bfloat16):
    x = torch.randn(4096, 1024, device="cuda", dtype=dtype)
    w, b = (torch.randn(1024, device="cuda", dtype=dtype) for _ in "wb")
    ours = tune.median_us(lambda x=x, w=w, b=b: ln.layer_norm(x, w, b, 1e-5))
    theirs = tune.median_us(lambda x=x, w=w, b=b: F.layer_norm(x, (1024,), w, b, 1e-5))
    print(ln.__file__, dtype, f"{ours:.2f} us, torch {theirs:.2f}, {theirs / ours:.3f}x")
