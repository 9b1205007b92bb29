#!/usr/bin/env bash
# One GPU session that calibrates and demonstrates the benchmark gate (benchmarks/README.md):
#   1. run 1: every op, saved as this GPU model's baseline (benchmarks/baselines/<slug>.json)
#   2. run 2: the same code again, gated against run 1: should PASS (exit 0); its summary
#      lines are the run-to-run spread the thresholds are chosen from
#   3. a deliberate slowdown (HARNESS_BENCH_SLOWDOWN=vector_add:3), gated: should FAIL (exit 1)
#   4. pytest-benchmark: vector_add float16 saved, then compared slowed: should fail
# Usage, from the repository root:  OUT=/some/dir bash benchmarks/gpu_check.sh
# Writes at most 8 files to $OUT: log.txt, the baseline JSON, run2.json, plots.tgz (every
# PNG of run 2), vector_add.png, softmax.png, pytest-bench.json.
set -u
OUT="${OUT:-gpu-check-out}"
PY="${PYTHON:-python}"
export PYTHONPATH="${PYTHONPATH:-.}"
TMP="$(mktemp -d)"
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1

step() {  # step NAME TIMEOUT_S CMD... : run, report the exit status
    local name="$1" limit="$2"
    shift 2
    echo
    echo "=================== $name: $*"
    local start=$SECONDS
    timeout "$limit" "$@"
    local rc=$?
    echo "=================== $name: exit $rc after $((SECONDS - start)) s"
    eval "RC_${name//-/_}=$rc"
}

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.draw,temperature.gpu \
    --format=csv 2>/dev/null || true
"$PY" -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"

step run1 260 "$PY" -m harness bench --out "$TMP/run1" --no-plots --save-baseline
cp benchmarks/baselines/*.json "$OUT/" 2>/dev/null

step run2 220 "$PY" -m harness bench --out "$TMP/run2" --gate
cp "$TMP/run2/bench.json" "$OUT/run2.json" 2>/dev/null
cp "$TMP/run2/vector_add.png" "$TMP/run2/softmax.png" "$OUT/" 2>/dev/null
tar czf "$OUT/plots.tgz" -C "$TMP/run2" --exclude=bench.json . 2>/dev/null

HARNESS_BENCH_SLOWDOWN=vector_add:3 step slowed 45 \
    "$PY" -m harness bench vector_add --dtype float32 --out "$TMP/slow" --no-plots --gate

PYTEST=("$PY" -m pytest tests/test_benchmarks.py -p no:xdist --triton-mode=gpu -q
        -k "vector_add and float16" --benchmark-storage="file://$TMP/store")
step pytest_save 35 "${PYTEST[@]}" --benchmark-save=base --benchmark-json="$OUT/pytest-bench.json"
HARNESS_BENCH_SLOWDOWN=vector_add:3 step pytest_compare 35 \
    "${PYTEST[@]}" --benchmark-compare=0001 --benchmark-compare-fail=median:10%

echo
echo "=================== summary (expected in brackets)"
echo "run1 (baseline saved)        exit ${RC_run1:-none}  [0]"
echo "run2 (gate, same code)       exit ${RC_run2:-none}  [0; 3 = spread too large to judge]"
echo "slowed gate                  exit ${RC_slowed:-none}  [1]"
echo "pytest-benchmark save        exit ${RC_pytest_save:-none}  [0]"
echo "pytest-benchmark compare     exit ${RC_pytest_compare:-none}  [non-zero: regressed]"
rm -rf "$TMP"
sleep 1  # let tee finish writing log.txt
