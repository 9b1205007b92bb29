"""triton-harness: reference-vs-kernel differential testing for Triton kernels.

Describe an operation once as an `Op` (a float64 NumPy oracle, a PyTorch reference, a
Triton launcher, and how to draw its cases), put it in a `Registry`, and the pytest
plugin checks all three tiers against each other in interpret mode or on a GPU.
"""

from harness import strategies
from harness.op import (
    Backward,
    BadInput,
    Budget,
    Case,
    Configs,
    Inputs,
    Limitation,
    Op,
    Part,
    Registry,
)
from harness.tolerance import ErrorModel, OutputModel, Override, Spans, Values

__all__ = [
    "Backward",
    "BadInput",
    "Budget",
    "Case",
    "Configs",
    "ErrorModel",
    "Inputs",
    "Limitation",
    "Op",
    "OutputModel",
    "Override",
    "Part",
    "Registry",
    "Spans",
    "Values",
    "strategies",
]
