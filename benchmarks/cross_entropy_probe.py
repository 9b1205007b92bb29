"""kernels/cross_entropy.py on a GPU, at a language model's vocabulary sizes: checked, then
timed against F.cross_entropy and a copy, forward and forward + backward, with the memory
each keeps.

Each shape and dtype, in one process: the rows' losses and the gradient (reduction
"mean", a quarter of the rows ignored) against float64 (F.cross_entropy on x.double()),
ours and PyTorch's worst errors side by side, our outputs allocated poisoned
(`harness.tensors.poisoned_allocations`: an element never written shows as NaN); then the
medians of `do_bench` (L2 flushed before each call) for

- copy: `out.copy_(x)`, moving 2 N C elements. The forward reads N C (its floor is half
  the copy's time), the backward reads x and writes dx (a copy's time): forward +
  backward's floor is 1.5 copies;
- ours and torch, forward (reduction "mean") and forward + backward (`loss.backward()`);

each as % of its floor, ours against PyTorch, and the peak memory a forward + backward
allocates beyond its inputs (PyTorch's log_softmax keeps an (N, C) tensor for the
backward; ours two floats a row).

    PYTHONPATH=. python benchmarks/cross_entropy_probe.py [--weighted] [--soft] [--offline]

`--weighted` does the same with class weights (drawn in [0, 2)) and label smoothing 0.1,
the case where the streamed forward also reads a weight for each logit. `--soft` takes
class probabilities for targets (each row a softmax of 2 z, z normal, in x's dtype):
forward and backward read them beside the logits, so the floors are a copy (forward) and
2.5 copies (forward + backward).

`--designs` times the forward alone (reduction "mean"), bfloat16 and float32, as planned
and with each row design forced (whole rows in registers up to 32768 columns, streamed in
blocks of 2048, 4096 or 8192), against a copy.

`--offline` compiles the kernels for sm_90 without a GPU, with the GPU's block sizes, at
8 x 50257 and 8 x 50264 (the looped forward; 50264 bfloat16 logits are 16 bytes times
6283 a row, so the rows start on the boundary), 8 x 8000 (whole rows) and the backward,
and prints their registers and SASS instructions an element (in the looped forward's
loop: a thread's iteration over the elements it takes), the MUFU (exp2, log2, rcp) among
them, and in the loop the elements a load reads (8: 16-byte vectors of bfloat16); then
the same at 8 x 50257 against class probabilities, without and with class weights and
smoothing (the loop's loads then the logits', the probabilities' and the weights').
"""

from __future__ import annotations

import sys

import torch
import torch.nn.functional as F
import triton

from harness.tensors import poisoned_allocations
from kernels.cross_entropy import cross_entropy

SHAPES = ((8192, 32000), (4096, 50257), (2048, 128256))
DTYPES = (torch.bfloat16, torch.float32)
IGNORE_INDEX = -100
OPTIONS: dict = {}
"""Both sides' class weights and label smoothing (`--weighted` sets them for each shape)."""


def _inputs(shape: tuple[int, int], dtype: torch.dtype, gen: torch.Generator, soft=False):
    n_rows, n_classes = shape
    x = torch.randn(shape, device="cuda", generator=gen).mul_(4).to(dtype)
    if soft:  # class probabilities, peaked as a teacher's are
        return x, torch.randn(shape, device="cuda", generator=gen).mul_(2).softmax(-1).to(dtype)
    target = torch.randint(0, n_classes, (n_rows,), device="cuda", generator=gen)
    ignored = torch.rand(n_rows, device="cuda", generator=gen) < 0.25
    return x, target.masked_fill_(ignored, IGNORE_INDEX)


def _loss_and_grad(fn, x: torch.Tensor, target: torch.Tensor, reduction: str = "mean"):
    leaf = x.detach().requires_grad_(True)
    loss = fn(leaf, target, reduction=reduction)
    loss.backward(torch.ones_like(loss))
    return loss.detach(), leaf.grad


def _ours(x, target, reduction="mean"):
    smoothing, weight = OPTIONS.get("label_smoothing", 0.0), OPTIONS.get("weight")
    return cross_entropy(x, target, IGNORE_INDEX, smoothing, reduction, weight)


def _torch(x, target, reduction="mean"):
    weight = OPTIONS.get("weight")
    if target.is_floating_point():  # the probabilities in x's dtype (float64 for the exact)
        target = target.to(x.dtype)
    return F.cross_entropy(
        x, target, None if weight is None else weight.to(x.dtype), ignore_index=IGNORE_INDEX,
        reduction=reduction, label_smoothing=OPTIONS.get("label_smoothing", 0.0),
    )  # fmt: skip


def _errors(x: torch.Tensor, target: torch.Tensor) -> str:
    """Worst absolute error of the rows' losses and of the gradient ("mean"), ours and
    PyTorch's, against float64."""
    exact_rows = _torch(x.double(), target, "none")
    _, exact_grad = _loss_and_grad(_torch, x.double(), target)
    with poisoned_allocations():
        ours_rows = _ours(x, target, "none")
        _, ours_grad = _loss_and_grad(_ours, x, target)
    torch_rows = _torch(x, target, "none")
    _, torch_grad = _loss_and_grad(_torch, x, target)
    cells = []
    for name, rows, grad in (("ours", ours_rows, ours_grad), ("torch", torch_rows, torch_grad)):
        row_error = (rows.double() - exact_rows).abs().max().item()
        grad_error = (grad.double() - exact_grad).abs().max().item()
        cells.append(f"{name} |loss err| {row_error:.2e} |dx err| {grad_error:.2e}")
    return "; ".join(cells)


def _peak_mib(fn, x: torch.Tensor, target: torch.Tensor) -> float:
    """MiB a forward + backward allocates at its peak beyond what is live before it."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    _loss_and_grad(fn, x, target)
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def _timed(x: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Microseconds (medians) of a copy of x, and of each call, forward and forward +
    backward."""
    from triton.testing import do_bench

    out = torch.empty_like(x)
    calls = {
        "copy": lambda: out.copy_(x),
        "ours fwd": lambda: _ours(x, target),
        "torch fwd": lambda: _torch(x, target),
        "ours fwd+bwd": lambda: _loss_and_grad(_ours, x, target),
        "torch fwd+bwd": lambda: _loss_and_grad(_torch, x, target),
    }
    return {name: 1e3 * do_bench(fn, return_mode="median") for name, fn in calls.items()}


def main(weighted: bool = False, soft: bool = False) -> None:
    print(torch.cuda.get_device_name(), "triton", triton.__version__, "torch", torch.__version__)
    gen = torch.Generator(device="cuda").manual_seed(0)
    for dtype in DTYPES:
        for shape in SHAPES:
            x, target = _inputs(shape, dtype, gen, soft)
            if weighted:
                weight = torch.rand(shape[1], device="cuda", generator=gen).mul_(2).to(dtype)
                OPTIONS.update(weight=weight, label_smoothing=0.1)
            print(f"{str(dtype)[6:]} {shape[0]} x {shape[1]}: {_errors(x, target)}", flush=True)
            us = _timed(x, target)
            # a copy moves 2 N C; the forward reads N C (2 N C soft), the backward 2 N C (3)
            floors = {"fwd": us["copy"] / 2, "fwd+bwd": us["copy"] * 1.5}
            if soft:
                floors = {"fwd": us["copy"], "fwd+bwd": us["copy"] * 2.5}
            for part, floor in floors.items():
                ours, theirs = us[f"ours {part}"], us[f"torch {part}"]
                print(f"  {part}: ours {ours:.1f} us ({floor / ours:.0%} of its floor), "
                      f"torch {theirs:.1f} us ({floor / theirs:.0%}), ours/torch "
                      f"{theirs / ours:.2f}x", flush=True)  # fmt: skip
            print(f"  copy {us['copy']:.1f} us; peak MiB fwd+bwd: ours "
                  f"{_peak_mib(_ours, x, target):.0f}, torch {_peak_mib(_torch, x, target):.0f}",
                  flush=True)  # fmt: skip


def _designs() -> None:
    from triton.testing import do_bench

    import kernels._rows as rows
    import kernels.cross_entropy as ce
    from kernels import _plans

    print(torch.cuda.get_device_name(), "triton", triton.__version__, "torch", torch.__version__)
    gen = torch.Generator(device="cuda").manual_seed(0)
    for dtype in DESIGN_DTYPES:
        for shape in DESIGN_SHAPES:
            x, target = _inputs(shape, dtype, gen)
            out = torch.empty_like(x)
            copy = 1e3 * do_bench(lambda out=out, x=x: out.copy_(x), return_mode="median")
            cells = [f"copy {copy:.1f} us"]
            us = 1e3 * do_bench(lambda x=x, t=target: _ours(x, t), return_mode="median")
            cells.append(f"default {us:.1f} us ({copy / 2 / us:.0%})")
            for design, block in DESIGNS:
                if design == "whole" and shape[1] > rows.WHOLE_ROW_MAX:
                    continue
                constants = {"WHOLE_ROW_MAX": rows.WHOLE_ROW_MAX, "LOOP_BLOCK": block}
                saved = {name: getattr(ce, name) for name in constants}
                for name, value in constants.items():  # (drops remembered plans)
                    setattr(ce, name, value or saved[name])
                try:
                    with _plans.forcing(f"rows/{design}/gpu"):
                        us = 1e3 * do_bench(lambda x=x, t=target: _ours(x, t),
                                            return_mode="median")  # fmt: skip
                finally:
                    for name, value in saved.items():
                        setattr(ce, name, value)
                name = design if block is None else f"{design} {block}"
                cells.append(f"{name} {us:.1f} us ({copy / 2 / us:.0%})")
            print(f"{str(dtype)[6:]} {shape[0]} x {shape[1]}: " + "  ".join(cells), flush=True)


DESIGN_DTYPES = (torch.bfloat16, torch.float32)
DESIGN_SHAPES = ((16384, 8192), (8192, 16384), (8192, 32000), (4096, 50257), (2048, 128256))
DESIGNS = (("whole", None), ("looped", 2048), ("looped", 4096), ("looped", 8192))
"""The forward's designs --designs forces: whole rows (up to `_rows.WHOLE_ROW_MAX`),
streamed in blocks of 2048 to 8192 (up to `_rows.LOOP_BLOCK`)."""


def _offline() -> None:
    from benchmarks.compile_offline import _resources
    from benchmarks.sass_loop import compile_only, loops, opcodes, sass
    from kernels import _plans

    compiled = compile_only(90)
    cases = (((8, 50257), "looped"), ((8, 50264), "looped"), ((8, 8000), "whole"),
             ((8, 50257), "looped soft"), ((8, 50257), "looped soft weighted"))  # fmt: skip
    for shape, design in cases:
        x = torch.randn(shape).to(torch.bfloat16).requires_grad_(True)
        target = torch.randint(0, shape[1], (shape[0],))
        options = (0.0, "mean")
        if "soft" in design:  # probabilities
            target = torch.rand(shape).softmax(-1).to(x.dtype)
        if "weighted" in design:  # with class weights and smoothing
            options = (0.1, "mean", torch.rand(shape[1]).to(x.dtype))
        del compiled[:]
        with _plans.forcing(f"rows/{design.split()[0]}/gpu"):
            cross_entropy(x, target, IGNORE_INDEX, *options).backward()
        for name, kernel in compiled:
            registers, spills, _ = _resources(kernel.asm["ptx"], 90)
            text = sass(kernel.asm["cubin"])
            looped = name == "cross_entropy_kernel" and design.startswith("looped")
            body = loops(text) if looped else []
            counts, where = (body[0], "its loop's iteration") if body else (opcodes(text), "all")
            per_element = 32 * kernel.metadata.num_warps / _tile_elements(kernel)
            mufu = sum(n for op, n in counts.items() if op.startswith("MUFU"))
            loads = counts.get("LDG", 0) * per_element  # global loads an element
            vectors = f", {1 / loads:.0f} elements a load" if body and loads else ""
            print(f"bfloat16 {shape[0]} x {shape[1]}, {design}: {name}: {registers} registers, "
                  f"{spills} B spilled; {where}: {sum(counts.values()) * per_element:.1f} "
                  f"instructions an element, {mufu * per_element:.2f} MUFU{vectors}")  # fmt: skip


def _tile_elements(kernel) -> int:
    """ROWS x BLOCK_COLS of a compiled kernel: the elements a program takes at a time (the
    reduce kernel's BLOCK)."""
    names = kernel.src.fn.arg_names
    constants = {
        names[key[0] if isinstance(key, tuple) else key] if not isinstance(key, str) else key: v
        for key, v in kernel.src.constants.items()
    }
    if "BLOCK" in constants:
        return constants["BLOCK"]
    return constants["ROWS"] * constants["BLOCK_COLS"]


if __name__ == "__main__":
    if "--offline" in sys.argv:
        _offline()
    elif "--designs" in sys.argv:
        _designs()
    else:
        main(weighted="--weighted" in sys.argv, soft="--soft" in sys.argv)
