"""Building inputs that expose kernel bugs, and watching what the tiers do to memory.

- `make_tensor` draws random values from a value profile (normal, a large offset, large
  or tiny magnitudes, ties ...) and can hand back a non-contiguous view whose gaps
  hold NaN, so a kernel that ignores strides reads poison and fails loudly.
- `poisoned_allocations` makes every `torch.empty` inside it come back full of NaN
  (integers: their maximum), so an output element the kernel never wrote shows.
- `snapshot` / `changed` prove the inputs come back bit for bit unmodified (`same_bits`:
  two snapshots alike).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from harness.dtypes import SMALLEST_NORMAL, name_of, to_torch

LAYOUTS: tuple[str, ...] = ("contiguous", "transposed", "strided", "padded")

ROW_PADDING = 3
"""Elements after each row in the "padded" layout: odd, so rows are also misaligned."""

#: Tensors larger than this are drawn on the GPU itself (test cases are far smaller, so
#: they draw on the CPU and rebuild bit for bit on any device, interpreter included).
DEVICE_DRAW_NUMEL = 1 << 24


@dataclass(frozen=True)
class ValueProfile:
    """A distribution of input values, and the kind of bug it is there to expose."""

    description: str
    draw: Callable[[tuple[int, ...], torch.Generator, str, float], torch.Tensor]
    """(shape, generator, dtype, limit) -> float32 values on the CPU; `limit` is the
    largest magnitude the op admits (see `Op.value_limit`)."""


# Each draws on the generator's device (the CPU for test cases, the GPU for huge ones).


def _normal(shape, gen, dtype, limit):
    return torch.randn(shape, generator=gen, dtype=torch.float32, device=gen.device)


def _offset(shape, gen, dtype, limit):
    sign = 1.0 if torch.rand((), generator=gen, device=gen.device) < 0.5 else -1.0
    return _normal(shape, gen, dtype, limit) + sign * min(OFFSET, limit / 2)


def _uniform(shape, gen, low, high, dtype=torch.float32):
    u = torch.rand(shape, generator=gen, dtype=dtype, device=gen.device)
    return u * (high - low) + low


def _large(shape, gen, dtype, limit):
    magnitude = min(LARGE, limit)
    return _uniform(shape, gen, -magnitude, magnitude)


def _wide(shape, gen, dtype, limit):
    # log-uniform magnitudes from the smallest normal up to the op's limit, random signs
    low = math.log2(SMALLEST_NORMAL[dtype])
    high = math.log2(min(limit, torch.finfo(to_torch(dtype)).max))
    exponents = _uniform(shape, gen, low, high, torch.float64)
    signs = torch.randint(0, 2, shape, generator=gen, device=gen.device) * 2 - 1
    return (signs * torch.exp2(exponents)).to(torch.float32)


def _positive(shape, gen, dtype, limit):
    return _uniform(shape, gen, 0.0, 1.0)


def _ties(shape, gen, dtype, limit):
    return torch.randint(-2, 3, shape, generator=gen, device=gen.device).to(torch.float32)


def _tiny(shape, gen, dtype, limit):
    scale = 8 * SMALLEST_NORMAL[dtype]
    drawn = torch.randn(shape, generator=gen, dtype=torch.float64, device=gen.device)
    return (drawn * scale).to(torch.float32)


OFFSET = 1000.0
"""The common offset of the "offset" profile: |mean| / spread = 1000."""
LARGE = 1.0e4
"""The magnitude of the "large" profile: exp() of it overflows float32 (from 88.7)."""

VALUE_PROFILES: dict[str, ValueProfile] = {
    "normal": ValueProfile("standard normal", _normal),
    "offset": ValueProfile(
        f"N(+-{OFFSET:g}, 1): a common offset much larger than the spread, where a one-pass "
        "variance or an unshifted sum loses its digits",
        _offset,
    ),
    "large": ValueProfile(
        f"uniform in +-{LARGE:g}: large logits, where exp without the max subtracted overflows",
        _large,
    ),
    "wide": ValueProfile(
        "log-uniform magnitudes from the smallest normal to the op's limit, random signs",
        _wide,
    ),
    "positive": ValueProfile(
        "uniform in [0, 1): no cancellation to hide an accumulation error", _positive
    ),
    "ties": ValueProfile("integers in [-2, 2]: many ties and exact zeros", _ties),
    "tiny": ValueProfile(
        "N(0, 1) times 8 smallest normals of the dtype: tiny and subnormal magnitudes", _tiny
    ),
}


def make_tensor(
    shape: Sequence[int],
    dtype: str | torch.dtype,
    device: Any,
    generator: torch.Generator,
    *,
    layout: str = "contiguous",
    values: str = "normal",
    limit: float = math.inf,
) -> torch.Tensor:
    """Random values drawn from the profile `values` (see VALUE_PROFILES), in a layout.

    Values are drawn in float32 on the CPU from `generator`, so a case rebuilds the
    same bits on any device. Layouts, all with the same logical shape:
      contiguous  row-major;
      transposed  the last two dims swapped in memory (a .mT of a contiguous tensor);
                  2-D or more only: a 1-D tensor has no transpose (ValueError);
      strided     every other element of a buffer twice as large along the last dim,
                  the unused half filled with NaN;
      padded      each row the first n elements of a longer, NaN-padded row: unit
                  column stride, but a row stride that is not the row length, and
                  misaligned rows (read in place by kernels that take a row stride).
    """
    dtype_name = name_of(dtype) if isinstance(dtype, torch.dtype) else dtype
    dtype = to_torch(dtype_name)
    shape = tuple(int(s) for s in shape)
    if layout == "transposed" and len(shape) >= 2:
        storage_shape = (*shape[:-2], shape[-1], shape[-2])
    elif layout == "transposed":
        raise ValueError(f"layout 'transposed' needs 2 or more dims, got shape {shape}")
    elif layout == "strided" and len(shape) >= 1:
        storage_shape = (*shape[:-1], 2 * shape[-1])
    elif layout == "padded" and len(shape) >= 1:
        storage_shape = (*shape[:-1], shape[-1] + ROW_PADDING)
    elif layout in LAYOUTS:
        storage_shape = shape
    else:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    try:
        profile = VALUE_PROFILES[values]
    except KeyError:
        raise ValueError(
            f"values must be one of {sorted(VALUE_PROFILES)}, got {values!r}"
        ) from None

    if math.prod(storage_shape) > DEVICE_DRAW_NUMEL and torch.device(device).type == "cuda":
        # Huge: a CPU draw of 2**28 values takes seconds; draw on the GPU from a seed
        # taken from `generator`, still reproducible (on the same kind of device).
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        generator = torch.Generator(device=device).manual_seed(seed)
    drawn = profile.draw(storage_shape, generator, dtype_name, limit)
    buffer = drawn.to(dtype).to(device)

    if layout == "transposed":
        return buffer.transpose(-1, -2)
    if layout == "strided" and len(shape) >= 1:
        buffer[..., 1::2] = float("nan")
        return buffer[..., ::2]
    if layout == "padded" and len(shape) >= 1:
        buffer[..., shape[-1] :] = float("nan")
        return buffer[..., : shape[-1]]
    return buffer


def layouts_for(shape: Sequence[int]) -> tuple[str, ...]:
    """The layouts `make_tensor` can give a tensor of this shape."""
    return LAYOUTS if len(shape) >= 2 else tuple(x for x in LAYOUTS if x != "transposed")


def add_specials(
    t: torch.Tensor, generator: torch.Generator, fraction: float = 0.02
) -> torch.Tensor:
    """Put NaN, +Inf and -Inf at random positions of `t` (in place; returns it), to check
    that they propagate where the oracle says and nowhere else."""
    if t.numel() == 0:
        return t
    picks = torch.rand(t.shape, generator=generator) < fraction
    kinds = torch.randint(0, 3, t.shape, generator=generator)
    specials = torch.tensor([float("nan"), float("inf"), float("-inf")])[kinds]
    t[picks.to(t.device)] = specials[picks].to(t.dtype).to(t.device)
    return t


def to_numpy64(value: Any) -> Any:
    """Tensors become float64 NumPy arrays (exact: every float dtype widens losslessly)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", torch.float64).numpy()
    return value


@contextlib.contextmanager
def poisoned_allocations() -> Iterator[None]:
    """Inside, uninitialized tensors are filled with NaN (integers with their max value).

    This is PyTorch's own `fill_uninitialized_memory`, active only while deterministic
    algorithms are on; `warn_only` keeps ops without a deterministic variant running.
    """
    import torch.utils.deterministic as det

    was_on = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    was_fill = det.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=True)
    det.fill_uninitialized_memory = True
    try:
        yield
    finally:
        det.fill_uninitialized_memory = was_fill
        torch.use_deterministic_algorithms(was_on, warn_only=was_warn_only)


def tensors_in(obj: Any) -> list[tuple[str, torch.Tensor]]:
    """(path, tensor) for every tensor in nested args/kwargs."""
    found: list[tuple[str, torch.Tensor]] = []

    def walk(x: Any, path: str) -> None:
        if isinstance(x, torch.Tensor):
            found.append((path, x))
        elif isinstance(x, (list, tuple)):
            for i, y in enumerate(x):
                walk(y, f"{path}[{i}]")
        elif isinstance(x, dict):
            for k, y in x.items():
                walk(y, f"{path}[{k!r}]")

    walk(obj, "")
    return found


def snapshot(obj: Any) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """Copies of every input tensor's visible bits (on its device), to compare after the
    tiers ran."""
    return [(path, t, _bits(t)) for path, t in tensors_in(obj)]


def changed(snap: list[tuple[str, torch.Tensor, torch.Tensor]]) -> list[str]:
    """The paths of snapshotted tensors whose bits differ now."""
    return [path for path, t, bits in snap if not torch.equal(_bits(t), bits)]


def same_bits(
    a: list[tuple[str, torch.Tensor, torch.Tensor]], b: list[tuple[str, torch.Tensor, torch.Tensor]]
) -> bool:
    """Whether two snapshots (of two calls' outputs, say) hold the same tensors' bits."""
    return [path for path, _, _ in a] == [path for path, _, _ in b] and all(
        torch.equal(x, y) for (_, _, x), (_, _, y) in zip(a, b, strict=True)
    )


def _bits(t: torch.Tensor) -> torch.Tensor:
    # Compare raw bits, so NaN == NaN and -0.0 != 0.0; works for any dtype and layout.
    if t.device.type == "meta":  # holds no data to modify
        return torch.zeros(0)
    if t.layout is not torch.strided:  # sparse: its values where they lie
        t = t.detach().to_dense()
    flat = t.detach().contiguous().reshape(-1).clone()
    if flat.is_floating_point() or flat.is_complex():
        width = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[
            flat.element_size()
        ]
        flat = flat.view(width)
    return flat
