#!/usr/bin/env bash
# The GPU session that calibrates and demonstrates the benchmark gate (benchmarks/README.md).
# Usage, from the repository root:  OUT=/some/dir [STEPS="..."] bash benchmarks/gpu_check.sh
#
#   baseline  every op, checked and timed, saved as $OUT/<gpu-slug>.json
#   gate      RUNS (3) more processes of the same code gated against it: each should PASS;
#             their verdicts are the false-alarm rate, their summaries the run-to-run
#             change the thresholds are chosen from (run2.json, run3.json... kept)
#   slowed    vector_add launched twice a call (tests.perf_plants:SLOWED), gated: FAIL (1)
#   retuned   vector_add with a worse launch constant (tests.perf_plants:RETUNED), gated
#   wrong     a vector_add wrong past 2**26 elements (tests.perf_plants:WRONG_AT_LARGE):
#             refused at the benchmark size (exit 1, an error row with its reproducer)
#   pytest    the pytest-benchmark side on vector_add float16: checked, timed, saved
#   vendor    benchmarks/vendor.py: matmul, attention, conv2d against cuBLAS, SDPA, cuDNN
#             ($OUT/vendor.txt, $OUT/vendor.json; VENDOR picks the ops)
#   checked   the gate as CI runs it (`python -m harness bench --gate`, every case checked
#             first) against the committed baseline, merging what this run measured into a
#             copy of it ($OUT/<gpu-slug>.json): cases the baseline lacks are added. OPS
#             picks the ops (default: all). In two calls: the second with BASELINE= the
#             first's copy, carried in, so that one copy holds both halves
# STEPS picks some of them, in its order (default: all, as listed); the baseline must exist
# for the gated steps (BASELINE=path to reuse one).
set -u
OUT="${OUT:-gpu-check-out}"
PY="${PYTHON:-python}"
RUNS="${RUNS:-3}"
STEPS="${STEPS:-baseline gate slowed retuned wrong pytest}"
export PYTHONPATH="${PYTHONPATH:-.}" PYTHONUNBUFFERED=1
TMP="$(mktemp -d)"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1

step() {  # step NAME TIMEOUT_S CMD... : run, report the exit status
    local name="$1" limit="$2"
    shift 2
    echo
    echo "=================== $name: $*"
    local start=$SECONDS
    timeout "$limit" "$@"
    local rc=$?
    echo "=================== $name: exit $rc after $((SECONDS - start)) s"
    SUMMARY+=("$name exit $rc")
}
SUMMARY=()

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu \
    --format=csv 2>/dev/null || true
"$PY" -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"
SLUG="$("$PY" -c "import torch; from harness.perf.machine import gpu_slug; print(gpu_slug(torch.cuda.get_device_name()))")"
BASELINE="${BASELINE:-$OUT/$SLUG.json}"
OPS="${OPS:-}"
GATE=(--gate --baseline "$BASELINE" --no-plots)

for name in $STEPS; do
    case "$name" in
    baseline)
        step baseline 400 "$PY" -m harness bench --out "$TMP/run1" --no-plots --save-baseline \
            --baseline "$BASELINE" ;;
    gate)
        for k in $(seq 2 $((RUNS + 1))); do
            step "gate-run$k" 400 "$PY" -m harness bench --out "$TMP/run$k" "${GATE[@]}"
            cp "$TMP/run$k/bench.json" "$OUT/run$k.json" 2>/dev/null
        done ;;
    slowed|retuned)
        plant="$(echo "$name" | tr a-z A-Z)"
        step "$name" 120 "$PY" -m harness bench vector_add --ops "tests.perf_plants:$plant" \
            --out "$TMP/$name" "${GATE[@]}" ;;
    wrong)
        step wrong 120 "$PY" -m harness bench vector_add --ops tests.perf_plants:WRONG_AT_LARGE \
            --dtype float32 --out "$TMP/wrong" --no-plots ;;
    vendor)
        # shellcheck disable=SC2086
        step vendor 560 "$PY" benchmarks/vendor.py ${VENDOR:-} --json "$OUT/vendor.json" ;;
    checked)
        [ -f "$BASELINE" ] || cp "benchmarks/baselines/$SLUG.json" "$BASELINE"
        # shellcheck disable=SC2086
        step checked 560 "$PY" -m harness bench $OPS --out "$TMP/checked" --no-plots --gate \
            --save-baseline --baseline "$BASELINE" --check-workers "${CHECK_WORKERS:-12}"
        cp "$TMP/checked/bench.json" "$OUT/checked.json" 2>/dev/null
        # A BASELINE carried in from an earlier call (the other half of OPS) comes back too.
        [ "$BASELINE" -ef "$OUT/$SLUG.json" ] || cp "$BASELINE" "$OUT/$SLUG.json" ;;
    pytest)
        step pytest 120 "$PY" -m pytest tests/test_benchmarks.py -p no:xdist --triton-mode=gpu \
            -q -k "vector_add and float16" --benchmark-storage="file://$TMP/store" \
            --benchmark-json="$OUT/pytest-bench.json" ;;
    *) echo "unknown step $name" ;;
    esac
done

echo
echo "=================== summary"
printf '%s\n' "${SUMMARY[@]}"
rm -rf "$TMP"
sleep 1  # let tee finish writing log.txt
