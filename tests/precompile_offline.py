"""harness.autotune.precompile, offline (tests/test_compile_offline.py runs it as a script).

On a machine without a GPU, benchmarks/compile_offline.py's stand-in driver makes Triton
compile for sm_90; JITFunction.run stays Triton's own, since precompile only compiles
(`warmup`), never launches. An autotuned kernel of four configs, one pruned away and one
with a pre-hook: precompile must compile the three kept, in pool threads, once each, into
the JIT function's cache, running the pre-hook first; a second precompile finds them all
compiled. Prints `ok` and the figures, or raises.
"""

from __future__ import annotations

import threading

import torch
import triton
import triton.language as tl
from triton.runtime.jit import JITFunction


@triton.jit
def _copy_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) * 2, mask=mask)


def main() -> None:
    from benchmarks.compile_offline import _offline

    triton_run = JITFunction.run
    _offline(90, measure=False)
    JITFunction.run = triton_run  # (the stand-in driver stays: the target is sm_90)

    import harness.autotune as autotune_module

    hooked = []
    configs = [
        triton.Config({"BLOCK": 64}, num_warps=1),
        triton.Config({"BLOCK": 128}, num_warps=2, pre_hook=lambda nargs: hooked.append(nargs)),
        triton.Config({"BLOCK": 256}, num_warps=4),
        triton.Config({"BLOCK": 2048}, num_warps=4),  # pruned
    ]
    keep_small = lambda configs, named_args, **_: [c for c in configs if c.kwargs["BLOCK"] < 1024]
    tuned = autotune_module.autotune(
        configs, key=["n"], prune_configs_by={"early_config_prune": keep_small}
    )(_copy_kernel)
    assert type(tuned.fn) is JITFunction, type(tuned.fn)

    compiled_in: list[int] = []
    cache = tuned.fn.device_caches[0][0]  # (made on first use, with the fn's `compile`)
    compile = tuned.fn.compile

    def recorded(*args, **kwargs):
        compiled_in.append(threading.get_ident())
        return compile(*args, **kwargs)

    tuned.fn.compile = recorded
    autotune_module.compile_threads = lambda: 2
    x, out = torch.randn(1000), torch.empty(1000)
    grid = lambda meta: (triton.cdiv(1000, meta["BLOCK"]),)

    submitted = autotune_module.precompile(tuned, grid, (x, out, 1000), {})
    assert submitted == 3, submitted
    assert len(compiled_in) == 3 and threading.get_ident() not in compiled_in, compiled_in
    assert len(cache) == 3, list(cache)
    assert len(hooked) == 1 and hooked[0]["x_ptr"] is x and hooked[0]["BLOCK"] == 128, hooked
    blocks = sorted(kernel.src.constants[(3,)] for kernel in cache.values())
    assert blocks == [64, 128, 256], blocks

    assert autotune_module.precompile(tuned, grid, (x, out, 1000), {}) == 3
    assert len(compiled_in) == 3 and len(cache) == 3, (compiled_in, list(cache))
    # (How many of the pool's threads took them depends on timing: one may take all.)
    print(f"ok: 3 of 4 configs compiled in the pool ({len(set(compiled_in))} thread(s))")


if __name__ == "__main__":
    main()
