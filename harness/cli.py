"""`python -m harness`: the differential check as a command, without pytest.

check [OP ...]   run every op (or those named) over drawn cases; print one table;
                 exit 1 if any tier disagrees with the oracle.
repro JSON       re-run exactly one case, as printed by a failure.
cases LOG        sum a case log ($HARNESS_CASE_LOG) by test: cases, time, its phases.
bench [OP ...]   time kernels against their PyTorch tier on the GPU (see harness.perf).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

from harness import crashes, memcheck, modes, profiles
from harness.dtypes import FLOAT_DTYPES
from harness.op import Budget, Case, Registry, load_registry


def _refuse(message: str) -> NoReturn:
    """Stop on input the command cannot run: one line, exit status 2 (a usage error, as
    argparse's; 1 means a check failed)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _load_registry(module: str, op: str | None = None, names: Sequence[str] = ()) -> Registry:
    """The registry, which holds every op of `names`; else refuse, saying what is missing."""
    try:
        registry = load_registry(module, op)
        for name in names:
            registry[name]
    except LookupError as exc:  # no module, no registry there, an unknown op (a KeyError)
        _refuse(exc.args[0])
    return registry


def _positive(kind: type) -> Callable[[str], int | float]:
    """An argparse type: a number of `kind` > 0."""

    def parse(text: str) -> int | float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names it in "invalid int value"
    return parse


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ops",
        default="ops",
        help="module holding the op Registry, or module:NAME for one of several. Default: ops",
    )
    p.add_argument(
        "--mode",
        choices=modes.MODE_CHOICES,
        default="auto",
        help="interpret (CPU), gpu, or auto (gpu when CUDA is available). Default: auto",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="differential check of the registered ops")
    check.add_argument("names", nargs="*", metavar="OP", help="ops to check. Default: all")
    _common(check)
    check.add_argument(
        "--dtype",
        action="append",
        choices=FLOAT_DTYPES,
        help="dtype to check (repeatable). Default: all three",
    )
    check.add_argument(
        "--budget",
        type=_positive(float),
        default=1.0,
        help="scale the size of drawn cases. Default: 1.0",
    )
    check.add_argument(
        "--profile",
        choices=sorted(profiles.PROFILES),
        default=None,
        help="hypothesis profile. Default: ci when CI is set, else dev",
    )
    check.add_argument(
        "--examples",
        type=_positive(int),
        default=None,
        help="hypothesis cases per op and dtype (overrides the profile)",
    )

    repro = sub.add_parser("repro", help="re-run one case printed by a failure")
    repro.add_argument("case", help="the case as JSON")
    _common(repro)
    repro.add_argument(
        "--memcheck",
        action="store_true",
        help="run it under compute-sanitizer memcheck and print what it finds (GPU)",
    )

    cases = sub.add_parser("cases", help="sum a case log ($HARNESS_CASE_LOG) by test")
    cases.add_argument("log", help="the file HARNESS_CASE_LOG named")
    cases.add_argument(
        "--slowest", type=int, default=5, help="how many of the slowest cases to list. Default: 5"
    )

    from harness.perf import cli as bench_mod

    bench = sub.add_parser(
        "bench",
        help="GPU benchmarks against the PyTorch tier; table, plots, baseline, gate",
        description=bench_mod.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("names", nargs="*", metavar="OP", help="ops to time. Default: all")
    _common(bench)
    bench_mod.add_arguments(bench)
    return parser


def _fmt(x: float | None) -> str:
    return f"{'-':>8}" if x is None else f"{x:>8.2e}"


def cmd_check(args: argparse.Namespace) -> int:
    from harness.runner import CaseFailure, check_op

    mode = modes.activate(args.mode)
    profile = profiles.load(args.profile)
    registry = _load_registry(args.ops, names=args.names)
    names = args.names or list(registry)
    dtypes = args.dtype or list(FLOAT_DTYPES)
    budget = Budget(mode, args.budget)
    v = modes.versions()
    print(
        f"mode={mode} device={modes.device_name(mode)} profile={profile} "
        + " ".join(f"{k}={val}" for k, val in v.items())
    )
    width = max(len(n) for n in names) + 2
    header = (
        f"{'op':<{width}}{'dtype':<10}{'mode':<10}{'cases':>6}  "
        f"{'torch':>8}  {'kernel':>8}  verdict"
    )
    print(header)
    print("-" * len(header))
    failures: list[str] = []
    warned: list[str] = []
    start = time.perf_counter()
    for name in names:
        op = registry[name]
        for dtype in dtypes:
            row = f"{name:<{width}}{dtype:<10}{mode:<10}"
            blank = f"{row}{'-':>6}  {'-':>8}  {'-':>8}  "
            if not op.supports(mode, dtype):
                print(f"{blank}skip: not supported in {mode}")
                continue
            lim = op.limitation(mode, dtype)
            if lim is not None and not lim.xfail:
                print(f"{blank}skip: {lim.reason}")
                continue
            try:
                summary = check_op(op, dtype, mode, registry.module, budget, args.examples)
                failed = None
            except CaseFailure as exc:
                summary, failed = None, str(exc)
            if lim is not None:  # declared to fail: it must
                verdict = f"xfail: {lim.reason}" if failed else "FAIL (passed, but declared xfail)"
                if not failed:
                    failures.append(f"{name}[{dtype}] passed but is declared to fail: {lim.reason}")
                print(f"{blank}{verdict}")
                continue
            if failed:
                failures.append(failed)
                print(f"{blank}FAIL")
                continue
            worst = summary.worst
            warned.extend(dict.fromkeys(summary.warnings))
            t, k = worst.worst("torch"), worst.worst("kernel")
            note = f" ({len(set(summary.warnings))} PyTorch warnings)" if summary.warnings else ""
            print(f"{row}{summary.cases:>6}  {_fmt(t.max_err)}  {_fmt(k.max_err)}  ok{note}")
            for v in worst.verdict("kernel"):
                if v.bound is not None:
                    print(f"{'':<{width}}  {v.name}: {v.bound.describe()}")
    print(
        f"\n{len(failures)} failure(s), {len(warned)} PyTorch warning(s) in "
        f"{time.perf_counter() - start:.1f}s (errors are |tier - oracle| / bound, the worst "
        "case drawn; <= 1 passes; bounds shown for that case)"
    )
    for text in warned:
        print("\nwarning: " + text)
    for text in failures:
        print("\n" + text)
    return 1 if failures else 0


def cmd_repro(args: argparse.Namespace) -> int:
    from harness.compare import run_case

    if args.memcheck and not memcheck.active():
        return _under_memcheck()
    mode = modes.activate(args.mode)
    try:
        case = Case.from_json(args.case)
    except ValueError as exc:
        _refuse(str(exc))
    registry = _load_registry(args.ops, case.op, names=[case.op])
    result = run_case(registry[case.op], case, mode, modes.device_for(mode), registry.module)
    print(result.report())
    return 0 if result.ok else 1


def cmd_cases(args: argparse.Namespace) -> int:
    from harness import caselog

    try:
        with open(args.log) as log:
            records = caselog.read(log)
    except OSError as exc:
        _refuse(f"cannot read the case log {args.log!r}: {exc.strerror}")
    if not records:
        _refuse(f"the case log {args.log!r} has no cases")
    print(caselog.summarize(records, args.slowest))
    return 0


def _under_memcheck() -> int:
    """This command again, under compute-sanitizer; then what it found in every process."""
    import subprocess

    try:
        command, env, logs = memcheck.wrap([sys.executable, "-m", "harness", *sys.argv[1:]])
    except memcheck.MemcheckError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    code = subprocess.run(command, env=env).returncode
    found = [f for log in sorted(logs.glob("*.log")) for f in memcheck.findings(log.read_text())]
    print(f"\ncompute-sanitizer memcheck: {len(found)} invalid access(es) (logs in {logs})")
    for text in found:
        print("\n" + text)
    return 1 if found or code else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            return cmd_check(args)
        if args.command == "repro":
            return cmd_repro(args)
        if args.command == "cases":
            return cmd_cases(args)
        from harness.perf import cli as perf_cli

        return perf_cli.main(args)
    except modes.ModeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except crashes.PoisonedContext as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
