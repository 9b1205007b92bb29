"""What each benchmark case's output check costs on the CPU: building its inputs, then the
float64 oracle and the error model's conditions on the part it is judged on
(`harness.perf.measure.check_part`), as `harness.compare` runs them. No GPU: the kernel
is not run, only the host's share of a check, which a bench run pays once a case.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/check_costs.py [OP ...]   (default all)

One line per case: its id, seconds for the inputs, seconds for the oracle and conditions,
and the part judged. OMP_NUM_THREADS=1 times one core, as each of a bench run's check
processes has about one.
"""

from __future__ import annotations

import sys
import time

from harness import modes


def main(names: list[str]) -> None:
    modes.activate("interpret")  # before the registry imports a kernel
    from harness.compare import build_inputs, oracle_and_conditions
    from harness.op import load_registry
    from harness.perf.measure import bench_items, check_part

    for item in bench_items(load_registry("ops"), names, ()):
        if item.skip is not None:
            continue
        start = time.perf_counter()
        inputs = build_inputs(item.op, item.case, "cpu")
        built = time.perf_counter()
        part = check_part(item.op, item.case)
        judged = part.case if part else item.case
        oracle_and_conditions(item.op, judged, part.inputs(inputs) if part else inputs)
        done = time.perf_counter()
        print(
            f"{item.id}  inputs {built - start:.1f} s  oracle+conditions {done - built:.1f} s  "
            f"judged on {part.label if part else 'the whole case'}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
