"""Triton kernels and their host launchers, one file per operation.

Import these only after choosing the mode: `TRITON_INTERPRET` is read when
`@triton.jit` decorates a kernel, i.e. at import.
"""
