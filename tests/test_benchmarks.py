"""GPU benchmarks: every op in the table, Triton kernel against its PyTorch tier, over the
sizes it declares (see harness.perf.pytest_bench). Run them on their own, without xdist:

    pytest tests/test_benchmarks.py -p no:xdist --triton-mode=gpu

In interpret mode, and under xdist, every item is skipped with the reason.
"""

from harness.perf.pytest_bench import BenchTests
from ops import OPS


class TestBenchmarks(BenchTests):
    ops = OPS
