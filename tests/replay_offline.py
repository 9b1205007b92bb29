"""A replay's launches against a full call's, offline (tests/test_compile_offline.py).

Run as a script on a machine without a GPU: conv2d's kernels compiled for sm_90
(benchmarks/compile_offline.py's stand-in driver), every launch handed to a CUDA launcher
that records it. For each memory format of x and of the filters, and the boxes and rows
designs forced: a call is captured, then a replayed call and a call planned in full on
the same new tensors must send the same launches (kernels, grids, every value, each
descriptor's shape, strides and block), the call's tensors at the same places and each
temporary of the one where the other has its own. Prints one line a case, "same" or
"DIFFERENT" with both launch lists.
"""

from __future__ import annotations

from typing import Any

import torch

import kernels._checks as checks
from benchmarks.compile_offline import _offline


def _inputs(
    gen: torch.Generator, r: int, x_last: bool, w_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """New float16 x (2, 16, 8, 8) and filters (16, 16, r, r), each channels-last or not."""
    x = torch.randn(2, 16, 8, 8, generator=gen).half()
    w = torch.randn(16, 16, r, r, generator=gen).half()
    last = lambda t, yes: t.contiguous(memory_format=torch.channels_last) if yes else t
    return last(x, x_last), last(w, w_last)


def main() -> None:
    _offline(90, measure=False)
    checks._INTERPRETING = True  # CPU tensors pass the launchers' device checks
    import kernels._launch as launch
    import kernels.conv2d as conv
    from kernels import _plans

    sent: list[tuple] = []

    class Recorded(dict):
        """Every specialization "compiled": launches go straight to a recording launcher."""

        def get(self, key: Any, default: Any = None) -> tuple:
            def run(gx, gy, gz, stream, function, packed, metadata, enter, exit_, *values):
                sent.append(((gx, gy, gz), key[0], values))

            return None, run, None, None

    launch._COMPILED = Recorded()
    torch.cuda.current_device = lambda: 0
    torch._C._cuda_getCurrentRawStream = lambda device: 0
    conv.copy_engine = lambda device: True
    # Launches made early as on an H100 (`kernels._launch.early_launch`): conv2d's after
    # its copies, layer_norm_backward's stage two; compiled with their waits for sm_90.
    import kernels.layer_norm_tuned as norm_tuned

    conv.early_launch = norm_tuned.early_launch = lambda device: True
    layouts: dict[int, tuple] = {}  # address -> (shape, strides, dtype) of each new tensor

    def noted(allocate: Any) -> Any:
        def allocated(*args: Any, **kwargs: Any) -> torch.Tensor:
            tensor = allocate(*args, **kwargs)
            layouts[tensor.data_ptr()] = (tuple(tensor.shape), tensor.stride(), tensor.dtype)
            return tensor

        return allocated

    torch.empty, torch.empty_strided = noted(torch.empty), noted(torch.empty_strided)

    def named(calls: list[tuple], known: dict[int, str]) -> list[tuple]:
        """Each launch with the call's tensors by name, its temporaries numbered (in the
        order they are first read or written) and each with the layout it was made in."""
        temporaries: dict[int, tuple] = {}
        name = lambda a: (
            known.get(a) or temporaries.setdefault(a, (f"t{len(temporaries)}", layouts.get(a)))
        )
        out = []
        for grid, kernel, values in calls:
            described = []
            for v in values:
                if type(v).__name__ == "TensorDescriptor":
                    v = ("desc", name(v.base.data_ptr()), *map(tuple, (v.shape, v.strides)),
                         tuple(v.block_shape))  # fmt: skip
                elif type(v) is int and v > 2**32:  # an address
                    v = name(v)
                described.append(v)
            out.append((grid, kernel, described))
        return out

    def by_name(tensors: Any, prefix: str) -> dict[int, str]:
        tensors = tensors if type(tensors) is tuple else (tensors,)
        return {t.data_ptr(): f"{prefix}{i}" for i, t in enumerate(tensors)
                if isinstance(t, torch.Tensor)}  # fmt: skip

    def compare(case: str, launcher: Any, make: Any, replays: Any = None) -> None:
        """launcher(*make()) captured; then replayed and planned in full on new arguments.
        `replays`: the replayed function's (by default the launcher's own)."""
        replays = replays or launcher.replays
        replays._by_signature.clear()
        launcher(*make())
        args = make()
        del sent[:]
        replayed = launcher(*args)
        replay = named(sent, {**by_name(tuple(args), "arg"), **by_name(replayed, "out")})
        kept = len(replays._by_signature)
        replays._by_signature.clear()
        del sent[:]
        with _plans.recording() as configs:
            full = launcher(*args)
        planned = named(sent, {**by_name(tuple(args), "arg"), **by_name(full, "out")})
        same = kept == 1 and replay == planned and len(planned) >= 1
        verdict = "same" if same else "DIFFERENT"
        print(f"{case}: {verdict} ({len(planned)} launches; {', '.join(configs)})")
        if not same:
            print("  replayed:", replay, "\n  planned:", planned, "\n  kept:", kept)

    gen = torch.Generator().manual_seed(0)
    for design, r, padding in (("boxes", 3, 1), ("rows", 1, 0)):
        config = next(iter(getattr(conv, f"{design.upper()}_CONFIGS")["gpu"]))
        for x_last in (False, True):
            for w_last in (False, True):
                with _plans.forcing(f"conv2d/{config}/gpu"):
                    compare(
                        f"conv2d {design} x_last={x_last} w_last={w_last}",
                        lambda x, w, padding=padding: conv._forward(x, w, None, 1, padding, 1, 1),
                        lambda r=r, x_last=x_last, w_last=w_last: _inputs(gen, r, x_last, w_last),
                        conv._forward.replays,
                    )

    # The other replayed launchers, one launch each: their default plans.
    from kernels import add_row_sum as rows_sum
    from kernels import layer_norm as norm
    from kernels import matmul, scale, softmax, vector_add

    matmul.copy_engine = lambda device: True
    new = lambda *shape, dtype=torch.float16: torch.randn(*shape, generator=gen).to(dtype)
    compare("vector_add", vector_add.vector_add, lambda: (new(3, 300), new(3, 300)))
    compare("scale", scale.scale, lambda: (new(3, 300), 0.5))
    # The row-wise ops on each design they have, forced: float32 rows, so that split rows
    # (their counters zeroed by a launch, both buffers temporaries) split.
    from kernels._rows import ROW_DESIGNS, SPLIT_ROW_DESIGNS

    for name, op, designs in (
        ("softmax", softmax.softmax, SPLIT_ROW_DESIGNS),
        ("add_row_sum", rows_sum.add_row_sum, SPLIT_ROW_DESIGNS),
        ("layer_norm", norm.layer_norm, ROW_DESIGNS),
    ):
        family = "layer_norm" if name == "layer_norm" else "rows"
        for design in designs:
            f32 = torch.float32
            params = (new(300, dtype=f32), new(300, dtype=f32)) if name == "layer_norm" else ()
            with _plans.forcing(f"{family}/{design}/gpu"):
                compare(
                    f"{name} {design}", op,
                    lambda params=params: (new(37, 300, dtype=torch.float32), *params),
                )  # fmt: skip
    # The backwards of layer_norm and of rms_norm (the same kernels given no mean pointer),
    # each GPU design forced, through the partial sums' buffers (temporaries) and stage
    # two's one launch for all sums; with a weight, then without (layer_norm: a bias alone).
    from kernels import rms_norm as rms
    from kernels.layer_norm_tuned import backward_configs

    stats = lambda: new(37, dtype=torch.float32)
    backwards = (
        ("layer_norm", norm.layer_norm_backward, lambda n, w: (stats(), stats(), w, new(n))),
        ("rms_norm", rms.rms_norm_backward, lambda n, w: (stats(), w)),
    )
    for name, backward, rest in backwards:
        for config in backward_configs(f"{name}_backward"):
            if not config.endswith("/gpu"):
                continue
            n = 9000 if "walker_halves" in config else 300  # past BWD_WALKER_BLOCK: halves
            for weighted in (True, False):
                with _plans.forcing(config):
                    compare(
                        f"{name}.grad weight={weighted}", backward,
                        lambda n=n, weighted=weighted, rest=rest: (
                            new(37, n), new(37, n), *rest(n, new(n) if weighted else None),
                        ),
                    )  # fmt: skip
    # cross_entropy's forward (the rows' kernel, then the reduce's one program) on each row
    # design, and its backward, with class weights (their sum an output of the forward,
    # "mean"'s count their target weights' sum, in float32) and without; label smoothing.
    from kernels import cross_entropy as ce

    classes = lambda: torch.randint(0, 300, (37,), generator=gen)
    for weighted in (True, False):
        weights = lambda weighted=weighted: new(300) if weighted else None
        for design in ROW_DESIGNS:
            with _plans.forcing(f"rows/{design}/gpu"):
                compare(
                    f"cross_entropy {design} weight={weighted}", ce.forward_launches,
                    lambda weights=weights: (new(37, 300), classes(), -100, 0.1, "mean",
                                             weights()),
                )  # fmt: skip
        count_dtype = torch.float32 if weighted else torch.int32
        compare(
            f"cross_entropy.grad weight={weighted}", ce.cross_entropy_backward,
            lambda weighted=weighted, weights=weights, count_dtype=count_dtype: (
                new((), dtype=torch.float32), new(37, 300), classes(), stats(), stats(),
                torch.ones(1, dtype=count_dtype), -100, 0.1, "mean", weights(),
                new(1, dtype=torch.float32) if weighted else None,
            ),
        )  # fmt: skip
    # Against class probabilities (read at x's offsets), with class weights: each row
    # design, then the backward (each row's sum of w_j p_j an output of the forward), with
    # the probabilities' gradient.
    probabilities = lambda: new(37, 300).float().softmax(-1).half()
    for design in ROW_DESIGNS:
        with _plans.forcing(f"rows/{design}/gpu"):
            compare(
                f"cross_entropy {design} probabilities", ce.forward_launches,
                lambda: (new(37, 300), probabilities(), -100, 0.1, "mean", new(300)),
            )  # fmt: skip
    compare(
        "cross_entropy.grad probabilities", ce.cross_entropy_backward,
        lambda: (new((), dtype=torch.float32), new(37, 300), probabilities(), stats(), stats(),
                 torch.ones(1, dtype=torch.int32), -100, 0.1, "mean", new(300),
                 new(1, dtype=torch.float32), stats(), True),
    )  # fmt: skip
    # rms_norm's forward on each row design (layer_norm's is above).
    for design in ROW_DESIGNS:
        with _plans.forcing(f"rms_norm/{design}/gpu"):
            compare(f"rms_norm {design}", rms.rms_norm, lambda: (new(37, 300), new(300), 1e-6))
    from kernels import attention

    qkv = lambda: tuple(new(2, 4, 128, 64) for _ in "qkv")
    compare("attention", attention.attention_forward, qkv)  # tuned: the first config
    tma = attention.config_name(attention.TMA_GPU_CONFIGS[0])
    with _plans.forcing(f"attention/{tma}/gpu"):
        compare("attention", attention.attention_forward, qkv)
    gradients = lambda: (
        *qkv(),
        *qkv()[:2],
        torch.randn(2, 4, 128, generator=gen),
        True,
        0.125,
    )  # dO, Q, K, V, O, LSE (any values: nothing runs), causal, scale
    compare("attention.grad", attention.attention_backward, gradients)  # three launches
    with _plans.forcing(f"attention/{tma}/gpu"):
        compare("attention.grad", attention.attention_backward, gradients)
    for table in (matmul.CONFIGS, matmul.TMA_CONFIGS):  # the pointer kernel, the TMA design
        with _plans.forcing(f"matmul/{next(iter(table['gpu']))}/gpu"):
            compare(
                "matmul",
                lambda a, b: matmul._launch(a, b, None, None, "ieee"),
                lambda: (new(256, 256), new(256, 256)),
                matmul._launch.replays,
            )


if __name__ == "__main__":
    main()
