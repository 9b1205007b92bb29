"""GPU benchmarks: every op in the table, Triton kernel against its PyTorch tier, over the
sizes it declares (see harness.bench_tests). Run them on their own, without xdist:

    pytest tests/test_benchmarks.py -p no:xdist --triton-mode=gpu

In interpret mode, and under xdist, every item is skipped with the reason.
"""

from harness.bench_tests import BenchTests
from ops import OPS


class TestBenchmarks(BenchTests):
    ops = OPS
