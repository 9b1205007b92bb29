"""harness.philox: Triton's random numbers in NumPy and PyTorch, bit for bit, checked
against Random123's published answers and against Triton's own functions launched in the
suite's mode (the interpreter or compiled on a GPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import triton
import triton.language as tl

from harness.modes import device_for
from harness.philox import (
    philox_numpy,
    rand_numpy,
    rand_torch,
    randint4x_numpy,
    randint4x_torch,
    uniform_numpy,
)

# Random123's kat_vectors for philox4x32 10: counter words, key words, the four words out.
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]
# Seeds of each width Triton gives an int argument (1 is a specialized constant), and
# negative ones (sign-extended to 64 bits).
SEEDS = [0, 1, 12345, 2**31 + 5, 2**40 + 3, 2**63 + 9, 2**64 - 1, -1, -(2**40) - 7]


@pytest.mark.parametrize(("counter", "key", "words"), KNOWN_ANSWERS)
def test_philox_gives_random123s_known_answers(counter, key, words):
    seed = key[1] << 32 | key[0]
    assert tuple(int(w) for w in philox_numpy(seed, *counter)) == words


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_the_torch_twin_draws_the_numpy_twins_words(seed, dtype):
    offsets = np.concatenate([np.arange(-40, 40), np.iinfo(dtype).max - np.arange(8)]).astype(dtype)
    words = randint4x_numpy(seed, offsets)
    twins = randint4x_torch(seed, torch.from_numpy(offsets))
    for w, t in zip(words, twins, strict=True):
        assert np.array_equal(w.astype(np.int64), t.numpy())
    assert np.array_equal(
        rand_numpy(seed, offsets), rand_torch(seed, torch.from_numpy(offsets)).numpy()
    )


def test_uniforms_stay_below_one_where_float32_rounds_up():
    # 2**31 - 1 becomes 2**31 as float32: only the scale keeps the largest uniform under 1.
    # Words with the top bit set fold onto the others (~x as int32).
    words = np.array([0, 1, 2**31 - 1, 2**31, 2**32 - 1], dtype=np.uint32)
    u = uniform_numpy(words)
    assert u.dtype == np.float32
    assert u[0] == u[4] == 0.0 and u[1] > 0.0
    assert u[2] == u[3] == u.max() and u.max() < 1.0


@triton.jit
def _draws_kernel(offsets_ptr, words_ptr, uniforms_ptr, seed, n, BLOCK: tl.constexpr):
    """Triton's own draws at n offsets: randint4x's four words (as int64 rows of n), rand."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    offsets = tl.load(offsets_ptr + i, mask=mask, other=0)
    r0, r1, r2, r3 = tl.randint4x(seed, offsets)
    # Each word as its 32 bits in an int64, whatever signedness Triton gives it.
    tl.store(words_ptr + i, r0.to(tl.int64) & 0xFFFFFFFF, mask=mask)
    tl.store(words_ptr + n + i, r1.to(tl.int64) & 0xFFFFFFFF, mask=mask)
    tl.store(words_ptr + 2 * n + i, r2.to(tl.int64) & 0xFFFFFFFF, mask=mask)
    tl.store(words_ptr + 3 * n + i, r3.to(tl.int64) & 0xFFFFFFFF, mask=mask)
    tl.store(uniforms_ptr + i, tl.rand(seed, offsets), mask=mask)


@pytest.fixture
def device(harness_state) -> torch.device:
    return torch.device(device_for(harness_state.mode))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_the_twins_draw_what_triton_draws(seed, dtype, device):
    """tl.randint4x and tl.rand in this mode, against both twins, at offsets of both signs
    and near the offsets' largest values (an int64 offset's high word counts too)."""
    top = torch.iinfo(dtype).max
    offsets = torch.cat([torch.arange(-70, 70), top - torch.arange(10)]).to(dtype)
    n, block = offsets.numel(), 64
    words = torch.full((4, n), -1, dtype=torch.int64, device=device)
    uniforms = torch.full((n,), float("nan"), device=device)
    _draws_kernel[(triton.cdiv(n, block),)](
        offsets.to(device), words, uniforms, seed, n, BLOCK=block
    )
    expected = np.stack(randint4x_numpy(seed, offsets.numpy())).astype(np.int64)
    assert np.array_equal(words.cpu().numpy(), expected)
    assert np.array_equal(uniforms.cpu().numpy(), rand_numpy(seed, offsets.numpy()))
    twins = torch.stack(randint4x_torch(seed, offsets.to(device)))
    assert torch.equal(twins, words)
    assert torch.equal(rand_torch(seed, offsets.to(device)), uniforms)
