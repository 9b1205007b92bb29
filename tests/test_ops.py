"""The differential suite: every op in the table, every dtype, in the session's mode."""

from harness.testing import OpTests
from ops import OPS


class TestOps(OpTests):
    ops = OPS
