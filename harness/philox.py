"""Triton's random numbers (`triton.language.random`) in NumPy and in PyTorch, bit for bit.

A kernel that draws with `tl.randint4x`, `tl.randint` or `tl.rand` computes a function of
its seed and offsets like any other, and an oracle can compute the same function if it
draws the same numbers. These are those numbers: Philox4x32-10 (Salmon et al., "Parallel
random numbers: as easy as 1, 2, 3", SC 2011) keyed by the seed, counting with the
offset, as Triton 3.6 and 3.9 call it:

- the counter is (offset mod 2**32, offset >> 32 where offsets are 64-bit integers, else
  0, 0, 0); the key is (seed mod 2**32, (seed >> 32) mod 2**32), the seed taken modulo
  2**64 (a negative int32 seed is sign-extended first, as Triton's cast does);
- `randint4x` is the round function's four words after ten rounds, `randint` the first;
- `rand` folds `randint` to 31 bits (a negative int32 x becomes ~x) and multiplies it, as
  float32 rounds, by the float32 just under 2**-31: uniform in [0, 1), never 1.

`tests/test_philox.py` checks them against Random123's published answers and against
Triton's own functions launched in the suite's mode. `tl.randn` is left out: its Box-
Muller transform takes a GPU's approximate log, cos and sin, which no twin matches bit for
bit.

The NumPy functions take and return NumPy arrays (uint32 words, float32 uniforms); the
PyTorch ones take and return int64 tensors holding the same 32-bit words (PyTorch's
uint32 lacks the arithmetic), on any device, and float32 uniforms. Both multiply 32-bit
words in halves of 16 bits, so no product leaves 64 bits.
"""

from __future__ import annotations

import numpy as np
import torch

ROUNDS = 10
"""Triton's default `n_rounds` (Philox4x32-10)."""
ROUND_MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
KEY_INCREMENTS = (0x9E3779B9, 0xBB67AE85)  # the golden ratio and sqrt(3) - 1, as 32-bit words
WORD = 0xFFFFFFFF
UNIFORM_SCALE = np.float32(2.0**-31 * (1 - 2.0**-24))
"""`tl.rand`'s factor (Triton writes it as a decimal): the float32 just under 2**-31, so
that (2**31 - 1) * it < 1.0 as float32 rounds."""


def _split_seed(seed: int) -> tuple[int, int]:
    """The key (low word, high word) of an integer seed, as Triton's `philox` makes it."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not -(2**63) <= int(seed) < 2**64:
        raise ValueError(f"seed must be in [-2**63, 2**64), got {seed}")
    seed = int(seed) % 2**64
    return seed & WORD, seed >> 32


def _multiply(a: int, word):
    """(high, low) words of the 64-bit product of the constant a and each 32-bit word."""
    low_half, high_half = word & 0xFFFF, word >> 16
    low_product, high_product = a * low_half, a * high_half  # each under 2**48
    high = (high_product + (low_product >> 16)) >> 16
    low = (((high_product & 0xFFFF) << 16) + low_product) & WORD
    return high, low


def _rounds(c0, c1, c2, c3, seed: int, rounds: int):
    """Philox's rounds on four arrays of words (any integer array type holding 32-bit
    values and their 48-bit products: NumPy uint64, PyTorch int64)."""
    k0, k1 = _split_seed(seed)
    a, b = ROUND_MULTIPLIERS
    for _ in range(rounds):
        high_b, low_b = _multiply(b, c2)
        high_a, low_a = _multiply(a, c0)
        c0, c1, c2, c3 = high_b ^ c1 ^ k0, low_b, high_a ^ c3 ^ k1, low_a
        k0, k1 = (k0 + KEY_INCREMENTS[0]) & WORD, (k1 + KEY_INCREMENTS[1]) & WORD
    return c0, c1, c2, c3


def _counter_words(offsets, is_wide: bool):
    """The counter's first two words, from offsets as 64-bit integers: their low word,
    then their high word where the kernel's offsets are 64-bit (0 for 32-bit ones, as
    `tl.randint4x`)."""
    high = (offsets >> 32) & WORD if is_wide else offsets * 0
    return offsets & WORD, high


def philox_numpy(seed: int, c0, c1, c2, c3, rounds: int = ROUNDS) -> tuple[np.ndarray, ...]:
    """`tl.philox(seed, c0, c1, c2, c3, rounds)` for 32-bit counter words (arrays or ints,
    broadcast together): the four uint32 words of Philox4x32 keyed by the seed."""
    words = np.broadcast_arrays(*(np.asarray(c, dtype=np.uint64) & WORD for c in (c0, c1, c2, c3)))
    return tuple(w.astype(np.uint32) for w in _rounds(*words, seed, rounds))


def randint4x_numpy(seed: int, offsets: np.ndarray, rounds: int = ROUNDS) -> tuple[np.ndarray, ...]:
    """`tl.randint4x(seed, offsets, rounds)`: four uint32 arrays of the offsets' shape.
    offsets: a NumPy integer array (int32 or int64, as the kernel's offsets)."""
    offsets = np.asarray(offsets)
    if offsets.dtype.kind not in "iu":
        raise TypeError(f"offsets must be integers, got {offsets.dtype}")
    is_wide = offsets.dtype.itemsize == 8
    low, high = _counter_words(offsets.astype(np.int64), is_wide)  # uint64: the same bits
    return philox_numpy(seed, low, high, 0, 0, rounds)


def randint_numpy(seed: int, offsets: np.ndarray, rounds: int = ROUNDS) -> np.ndarray:
    """`tl.randint(seed, offsets, rounds)`: uint32 words (Triton's are int32 of the same
    bits)."""
    return randint4x_numpy(seed, offsets, rounds)[0]


def uniform_numpy(words: np.ndarray) -> np.ndarray:
    """`tl.rand`'s float32 in [0, 1) from 32-bit random words (`uint_to_uniform_float`)."""
    signed = np.asarray(words).astype(np.uint32).view(np.int32)
    folded = np.where(signed < 0, ~signed, signed)
    return folded.astype(np.float32) * UNIFORM_SCALE


def rand_numpy(seed: int, offsets: np.ndarray, rounds: int = ROUNDS) -> np.ndarray:
    """`tl.rand(seed, offsets, rounds)`: float32 uniforms in [0, 1)."""
    return uniform_numpy(randint_numpy(seed, offsets, rounds))


def randint4x_torch(
    seed: int, offsets: torch.Tensor, rounds: int = ROUNDS
) -> tuple[torch.Tensor, ...]:
    """`tl.randint4x(seed, offsets, rounds)` on `offsets`' device: four int64 tensors of
    32-bit words. offsets: an int32 or int64 tensor."""
    if offsets.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"offsets must be int32 or int64, got {offsets.dtype}")
    low, high = _counter_words(offsets.to(torch.int64), offsets.dtype == torch.int64)
    zeros = torch.zeros_like(low)
    return _rounds(low, high, zeros, zeros, seed, rounds)


def uniform_torch(words: torch.Tensor) -> torch.Tensor:
    """`uniform_numpy` for int64 tensors of 32-bit words."""
    signed = torch.where(words >= 2**31, words - 2**32, words)
    folded = torch.where(signed < 0, -signed - 1, signed)
    # A float32 tensor, not a Python float: float32 times float32, rounded once.
    scale = torch.tensor(UNIFORM_SCALE, dtype=torch.float32, device=words.device)
    return folded.to(torch.float32) * scale


def rand_torch(seed: int, offsets: torch.Tensor, rounds: int = ROUNDS) -> torch.Tensor:
    """`tl.rand(seed, offsets, rounds)` on `offsets`' device: float32 uniforms in [0, 1)."""
    return uniform_torch(randint4x_torch(seed, offsets, rounds)[0])
