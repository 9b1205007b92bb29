"""triton-harness: reference-vs-kernel differential testing for Triton kernels.

Describe an operation once as an `Op` (a float64 NumPy oracle, a PyTorch reference, a
Triton launcher, and how to draw its cases), put it in a `Registry`, and the pytest
plugin checks all three tiers against each other in interpret mode or on a GPU.
"""

from harness import strategies
from harness.op import BadInput, Budget, Case, Inputs, Limitation, Op, Registry
from harness.tolerance import ErrorModel, Override, reduction_growth

__all__ = [
    "BadInput",
    "Budget",
    "Case",
    "ErrorModel",
    "Inputs",
    "Limitation",
    "Op",
    "Override",
    "Registry",
    "reduction_growth",
    "strategies",
]
