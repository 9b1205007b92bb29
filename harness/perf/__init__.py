"""The performance half of the harness: is the kernel fast, and did it get slower.

The correctness core (`harness/*.py`) never imports it; it uses the core to check each
benchmarked output before timing it.

  measure       what is benchmarked (an op's bench cases), each checked, then timed
  timing        device time of a call: CUDA events, the L2 flushed before it
  ceilings      the card's copy bandwidth and matmul rate, measured in the same run
  machine       the GPU, driver and software a run was measured on
  results       a run as plain data (JSON): per case, per tier, per repeat
  gate          a run against the stored baseline of the same GPU model
  report        the table, a plot per op, a roofline per op and a summary of speedups
  cli           `python -m harness bench`
  pytest_bench  the same measurements as pytest-benchmark tests (`BenchTests`)
"""
