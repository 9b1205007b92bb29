"""Sequential float32 sums of n same-sign terms against `harness.tolerance.growth`.

    python benchmarks/stagnation_probe.py [--seed S]

NumPy's float32 `cumsum` adds in order, as one accumulator of a kernel's loop does. For
each value distribution and n, the error of the last partial sum against the exact sum
(math.fsum), in units of u(float32) sum |t|, and its ratio to the probabilistic growth
LAMBDA sqrt(n - 1) alone and to `growth(n - 1)` (probabilistic up to STAGNATION_DEPTH
roundings, each rounding in full past it). Past 2**18 terms of one sign a term spans few
units of the sum's last place and round-to-nearest drops part of it (stagnation): the
errors stop being mean-zero. No GPU; seconds on a CPU.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from harness.dtypes import UNIT_ROUNDOFF
from harness.tolerance import LAMBDA, growth

EXPONENTS = (14, 16, 18, 19, 20, 22)


def distributions(rng: np.random.Generator) -> dict:
    return {
        "uniform [0, 1)": lambda n: rng.random(n),
        "uniform x uniform": lambda n: rng.random(n) * rng.random(n),
        "|normal|": lambda n: np.abs(rng.standard_normal(n)),
        "exponential": lambda n: rng.exponential(size=n),
        "1000 + normal": lambda n: 1000 + rng.standard_normal(n),
        "normal (both signs)": lambda n: rng.standard_normal(n),
        "constant 0.1": lambda n: np.full(n, 0.1),
    }


def sequential_error(terms: np.ndarray) -> float:
    """|float32 in-order sum - exact sum| / (u(float32) sum |t|), the terms float32."""
    t = terms.astype(np.float32)
    exact = math.fsum(t.astype(np.float64))
    summed = float(np.cumsum(t, dtype=np.float32)[-1])
    return abs(summed - exact) / (UNIT_ROUNDOFF["float32"] * float(np.abs(t).sum(dtype=np.float64)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{'terms':<22}{'n':>6}{'error (u sum|t|)':>18}{'/ LAMBDA sqrt':>15}{'/ growth':>10}")
    for name, draw in distributions(rng).items():
        for e in EXPONENTS:
            n = 2**e
            err = sequential_error(draw(n))
            probabilistic = LAMBDA * math.sqrt(n - 1)
            print(f"{name:<22}{'2^' + str(e):>6}{err:18.0f}{err / probabilistic:15.2f}"
                  f"{err / growth(n - 1):10.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
