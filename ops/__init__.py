"""The table of operations: one entry per op, each in its own file here.

Each entry binds the op's three tiers (references/<op>.py, kernels/<op>.py), how its
cases are drawn, its tolerance model, its bad inputs and its cost model.
"""

from harness.op import Registry
from ops.vector_add import VECTOR_ADD

OPS = Registry([VECTOR_ADD], module=__name__)
