"""Host-side arithmetic for launch plans, in plain Python.

`triton.cdiv` and `triton.next_power_of_2` are usable inside kernels too: in Triton 3.9
they are constexpr functions, and each host call goes through a wrapper that costs
about 3 us. A launcher that plans with a dozen of them spends more time there than in
its own checks, on every call. These two do the same in well under a microsecond.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import triton


def cdiv(x: int, y: int) -> int:
    """ceil(x / y) for integers, y > 0."""
    return -(-x // y)


def next_power_of_2(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1)."""
    return 1 << (n - 1).bit_length() if n > 1 else 1


MAX_GRID = (2**31 - 1, 65535, 65535)
"""CUDA's limits on a launch grid, per axis: a larger grid fails at launch with a bare
"invalid argument"."""


def checked_grid(grid: tuple[int, ...], what: str) -> tuple[int, ...]:
    """`grid`, after checking that CUDA can launch it; else a ValueError naming `what`
    (the input whose size asked for it), raised before anything reaches Triton."""
    for axis, (size, limit) in enumerate(zip(grid, MAX_GRID, strict=False)):
        if size > limit:
            raise ValueError(
                f"{what} needs {size} programs on grid axis {axis}, over CUDA's {limit}"
            )
    return grid


TILE_SLACK = 256
"""How far past a dim's end a tile's lanes may index (the largest block of any kernel):
masked lanes still compute their offsets."""


def offsets_fit_int32(*views: tuple[tuple[int, ...], tuple[int, ...]]) -> bool:
    """Whether every element offset a tile can form in each (shape, strides) view,
    TILE_SLACK lanes past every dim's end included, stays below 2**31: then a kernel may
    index its tiles in int32. int64 tiles of offsets cost a GEMM's epilogue enough
    registers to spill (benchmarks/compile_offline.py counts them); a scalar part of an
    offset (a batch's) is formed in int64 apart and needs no room here."""
    return all(
        sum((size + TILE_SLACK) * abs(stride) for size, stride in zip(shape, strides, strict=True))
        < 2**31
        for shape, strides in views
    )


SHARED_MEMORY_BYTES = 227 * 1024
"""The shared memory one block of an sm_90 GPU (H100, H200) may use."""


def gemm_tile_bytes(config: triton.Config, element_bytes: int) -> int:
    """Shared memory of a tiled GEMM config's software pipeline: stages x (BLOCK_M x
    BLOCK_K + BLOCK_K x BLOCK_N) operand elements."""
    k = config.kwargs
    return config.num_stages * (k["BLOCK_M"] + k["BLOCK_N"]) * k["BLOCK_K"] * element_bytes


def fitted(config: triton.Config, element_bytes: int) -> triton.Config:
    """`config` with its K step halved until its pipeline fits SHARED_MEMORY_BYTES: a
    config tuned for 16-bit operands (128 x 256 tiles, K steps of 64, 3 stages: 144 KiB)
    keeps its tile and stages on float32 operands (288 KiB at a K step of 64)."""
    while gemm_tile_bytes(config, element_bytes) > SHARED_MEMORY_BYTES and (
        config.kwargs["BLOCK_K"] > 16
    ):
        blocks = {**config.kwargs, "BLOCK_K": config.kwargs["BLOCK_K"] // 2}
        config = triton.Config(blocks, num_warps=config.num_warps, num_stages=config.num_stages)
    return config


def fitting_configs(operand: str) -> Callable[..., list[triton.Config]]:
    """An autotuner's `early_config_prune`: the configs whose pipeline fits for the
    element size of the kernel argument `operand` (all of them if none does). The tuner
    would time an unfit one as infinitely slow, after compiling it for nothing."""

    def prune(configs: list[triton.Config], named_args: dict[str, Any], **_: Any) -> list:
        size = named_args[operand].element_size()
        fit = [c for c in configs if gemm_tile_bytes(c, size) <= SHARED_MEMORY_BYTES]
        return fit or list(configs)

    return prune
