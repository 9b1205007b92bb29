#!/usr/bin/env bash
# The GPU-machine runs behind the closing notes, step by step, each with a time limit, its
# log in $OUT/<step>.txt and a summary line. From the repository root:
#     OUT=dir STEPS="gpu-new parity-light memcheck" bash tests/gpu_steps.sh
# Every case a step runs is a line of $OUT/cases.jsonl (HARNESS_CASE_LOG), summed by test
# at the end ($OUT/cases-summary.txt).
#
#   gpu-new       matmul, attention, conv2d, autotune, parity and memcheck tests compiled on
#                 the GPU (-n 12). 2026-12-04c: 274 passed, 8 skipped, none failed (568
#                 s, LIMIT=570). Next: conv-parts (the filters' copy swept,
#                 FEW_PIXELS_BLOCK, now inside the paired copy)
#   parity-light  the suite in parity mode (compiled vs interpreted twins, -n 14) but the
#                 differential tests of matmul, attention and conv2d, and the planted
#                 divergences of tests/parity_plants.py through `harness check`
#   parity-heavy  those differential tests in parity mode (HEAVY_OPS picks some: "matmul",
#                 then "attention or conv2d", a device call each)
#   memcheck      three row-wise ops' differential tests under compute-sanitizer memcheck
#   costs         those same tests compiled, in parity mode and under memcheck: each
#                 check's cost as the wall time of one against the other
#   nightly       the nightly job (make nightly): every op, 4 shards a test (-n 15), each
#                 autotuned kernel on its first config (NIGHT_AUTOTUNE=time times them:
#                 2026-12-07c, none of 12 gradient tests ended in 472 s, all with first)
#   nightly-rows  the nightly job for the row-wise ops and LayerNorm
#   nightly-matmul  the nightly job for matmul and its gradient
#   nightly-gemms the three GEMM families' night run in one pytest (ONLY and SHARDS split it)
#   two-pass-floor softmax's 16-bit long rows beside their two-pass pattern alone
#   repro-k133003 the matmul case that failed a night run before fe7dcd7, replayed
#   repro-tf32    the conv2d case of 2026-12-06h (tf32 reads a weight below 2**-136 as
#                 zero), replayed: it passes, 4 elements as the tensor cores read them
#                 (H100, 2026-12-07: benchmarks/results/2026-12-07-h100)
#   night-costs   one large matmul.grad and conv2d.grad case's phases (profile_check.py),
#                 NumPy on one core as a night worker has
#   fp16-reduction  the night run's ReferenceWarning on matmul[float16] with tiny values
#                 (2026-12-07b), PyTorch's reduced-precision float16 reduction on and off
#                 (2026-12-07c: its cause)
#   h200-tables   issues 10 and 13's tables in one call, for when an H200 comes: the
#                 row-wise bench, host cost, conv2d against cuDNN, softmax's floor probe
#   nightly-attention, nightly-conv2d  the same for attention and conv2d (2026-12-06e call
#                 6: the whole night job reached 1-3 of their 4 shards in 580 s). The GEMM
#                 families outlast a call (2026-12-06f call 2: no matmul shard of 4 ended
#                 in 300 s): split them finer over calls, SHARDS=16 ONLY="shard1of16 or
#                 shard2of16" (ONLY: a further -k term); LIMIT sets each step's limit
#   autotune-cost matmul's differential tests with --triton-autotune=time, then =first
#   rows          the row-wise ops compiled (tests), their host cost (benchmarks/host_cost.py)
#                 and launch-constant sweeps (benchmarks/tune_rowwise.py)
#   launch        the fast launch of autotuned kernels, the tf32 B copy and matmul's TMA
#                 design: tests compiled, host cost, vendor.py matmul-probe and matmul-tma
#   tma           matmul's TMA configs (persistent ones too) and attention's descriptor
#                 forward: tests compiled, vendor.py matmul-tma, attention-tma, matmul
#   tma-tables    those tests again, compiled and in parity mode, then vendor.py's matmul
#                 and attention tables
#   tma-backward  attention's tests compiled and its backward's in parity mode, then
#                 vendor.py attention with the backward's pointer-load comparison
#   pointwise     conv2d's pointwise design: tests compiled, vendor.py conv2d-pointwise
#   depthwise     the depthwise kernels with compile-time taps: tests compiled, the sweep of
#                 each layout's configs, vendor.py depthwise, and ncu on one 7x7 launch
#   descriptors   launches with tensor descriptors through fast and replays: tests
#                 compiled, host cost, vendor.py matmul-tma and the 16-bit table
#   tma-fast      TMA launches through fast and replays (their default fixed): tests, host
#                 cost, each TMA config, the 16-bit table with TMA from 2048^3 and without
#   tma-default   after tma-fast: tests compiled, the 16-bit table, host cost at 2048^3
#   split-16bit   the split-rows sweep for 16-bit rows (larger slices, fuller threads)
#   split-v2      split rows again (v2, rejected), then unmasked's tests and tables, batched-default
#   conv-tma      conv2d's TMA designs: tests compiled, each shape timed, host cost
#   conv-dx       dx on the TMA designs: tests compiled, dx timed against cuDNN's
#   bwd-blocks    attention's backward with unmasked blocks: tests compiled, the sweep of
#                 its dK/dV and dQ kernels' configs, each apart
#   bwd-strips    the backward's configs per head_dim, and the depthwise strips: tests
#                 compiled, vendor.py depthwise and attention (bf16)
#   strips-final  the plane kernel's strips and the causal dQ order: tests compiled,
#                 vendor.py depthwise (float16), the band kernel against the plane
#                 strips forced (7x7), and attention-grad (bfloat16)
#   close-a       the matmul table (all dtypes), then rows-sweep's tests and sweep
#   close-b       leak test, float32 matmul table, ncu on attention, fp16 backward, depthwise
#   close-c       conv2d's replay test, the rest of the float16 depthwise table
#   host-direct   issue 10's host cost (direct C launch, replays at the public function),
#                 the vector_add and scale sweeps, attention's float16 rows at 1024
#   c-launch      the direct C launch against Triton's launcher object; split-16bit
#   direct-heavy  the direct C launch under matmul, attention and conv2d's tests; the
#                 looped softmax's one exp an element against .base/
#   close-13      issue 13's conv2d table on this tree; issue 10's long rows under ncu
#   ftz-softmax   softmax on ex2.approx.ftz: tests, long rows against .base/ (2026-12-04
#                 call 7; again in call 8 with the row max, one exp an element)
#   host-generated  replays through one generated function: tests, host cost against .base/
#   ln-parts      (at edfe1c8, rejected) layer_norm's backward walkers in parts: tests,
#                 the bwd-parts sweep, .base/'s defaults on the same shapes
#   conv-bf16     conv2d's paired copies off and on, bfloat16 whole calls
#   conv-memcheck conv2d's copies to channels-last, the paired one too, under memcheck
#   conv-final    conv2d as shipped: tests compiled, 3 x 3 whole calls in both dtypes
#   conv-close    tests/test_conv2d.py compiled, the 1 x 1 whole calls (float16)
#   dw-walk       NCHW depthwise programs walking tiles down a plane (TILES): the plane
#                 kernel's sweep, the float16 depthwise table, ncu on each design forced
#   dw-vec        those walks' strips as aligned vectors: the sweep, ncu, conv_replay_check
#   dw-final      the plane table as shipped: conv2d's tests compiled, the float16 table
#   rows-out      1 x 1 rows stored through a descriptor of out: tests, per-config timings,
#                 whole calls against cuDNN; depthwise float16 7 x 7 rows
#   rows-final    the rows table as shipped: conv2d tests compiled, depthwise float16 7 x 7 rows
#   s13-close     host cost against .base/, rows under memcheck and poisoned, 96 x 7 x 7
#   dw-bf16-rest  the bfloat16 depthwise rows still unmeasured (7 x 7 stride 2, 96 channels)
#   dw-halo       the plane kernel's halo in vectors (7 x 7): tests compiled, the 7 x 7
#                 designs timed against .base/ (the tree before), ncu on stride 2
#   s15-tuning    precompile on the GPU: autotune tests compiled, a 7 x 7 depthwise first
#                 call's tuning with and without it (fresh caches), then the plane tests
#   s15-dw-rows   the depthwise tables in float16 and bfloat16 after the halo change and
#                 the first row's vector store (a device call each where tuning is slow)
#   s15-dw-rest   the depthwise rows s15-dw-rows had no time for (bfloat16 first)
#   s16-cl-filter channels-last with one filter a thread, forced against the old winners
#   s16-cl-rows   the channels-last 7 x 7 rows as shipped
#   s17-dw-rows   the 7 x 7 rows s16-cl-rows had no time for, and bfloat16's stride 1
#   s17-prefetch  (at 65c9877, rejected; the step lives there) the plane walks pipelined
#                 (PREFETCH, forced only): tests compiled, then each timed against its twin
#   s17-dw-ncu    ncu on NCHW 7 x 7 stride 1 (the plane walks' issue floor is 46-51% of a
#                 copy, they reach 30-36%), then the float16 7 x 7 stride 2 row as shipped
#   s18-dw-size   the 3 x 3 and 28 x 28 depthwise rows (float16) against a copy of their own
#                 size as well as the 2 GiB one
#   s22-dw-size-bf16  s18-dw-size in bfloat16
#   s19-host-depths  issue 10's host cost, timed with headroom on the frame stack, then each
#                 tier at 200 call depths (which of them map a frame chunk a call)
#   s19-rows-bench   issue 10's table on this tree: the row-wise ops' benchmark cases against
#                 PyTorch and a same-size copy (`python -m harness bench`)
#   s20-walkers   softmax's and add_row_sum's walkers (kernels._rows.WALKER_MAX_ROW_BYTES;
#                 2026-12-05c, H100: add_row_sum's long 16-bit rows walked since): their
#                 tests compiled, then tune_rowwise.py's walker sweeps
#   s21-walk-rows add_row_sum walking its long 16-bit rows: tests compiled, the walker sweep
#                 (each op's default against its WALK_LONG_ROWS flipped), add_row_sum's table
#   s21-rows-1x1  the 1 x 1 rows design's candidate configs (tiles of 64-256 filters, 1-4
#                 programs an SM) timed on both 1 x 1 shapes against cuDNN and a copy
#   s23-loop-stages  (at b2bb063, rejected; the step lives there) the looped kernels'
#                 loops pipelined (LOOP_STAGES): tests compiled, then the loop sweeps
#   s23-bwd-sweep layer_norm_backward's knobs against a copy of its bytes
#   s23-conv-table  issue 13's conv2d table: every CONV_SHAPES row against cuDNN, both
#                 layouts and 16-bit dtypes
#   s24-bwd-replay  layer_norm_backward replayed: tests compiled, host cost, its table
#   s24-rows-ncu  ncu on the long rows and layer_norm_backward's tiles (rows_probe.py)
#   s26-split-replay  split rows replayed: tests compiled, float32 host cost, the timelines
#   s27-early-sums  layer_norm_backward's stage two launched early: tests, timelines, table
#   s30-graphs    every replayed launcher captured in a CUDA graph, against eager calls
#   s31-timeline  `harness bench --timeline` on the multi-launch ops
#   s32-rms-norm  RMSNorm on a GPU for the first time: its tests compiled, then its bench
#                 beside layer_norm's (the same kernels, no mean pointer)
#   s33-loop-loads  softmax's looped kernel on two loads an iteration: tests, sweep, table
#   s34-torch-bench  Op.torch_bench: its test compiled, rms_norm's and conv2d's tables
#   s35-ln-mean   layer_norm's row mean: Newton step, div_rn, `/` (ln_mean_probe.py)
#   s36-tunings   replays keyed on _plans.tunings(): row-wise tests compiled, host cost
#   s37-checks    attention's bench cases checked on their new parts (64 query rows where
#                 not causal) and timed, the checks' heartbeat naming the slow ones; then
#                 the norms' and attention's parity tests (the twins with
#                 harness.interpreter_speed)
#   s39-ieee-spans  matmul's ieee spans and their declared order: tests compiled, the
#                 long-K probe, the ieee candidates swept again (spans cost 2-4%)
#   s40-dropout   dropout and harness.philox compiled: the twins against Triton's draws,
#                 the op's tests and planted bugs, exact outputs (the outside argmax), then
#                 benchmarks/dropout_probe.py
#   s41-cross-entropy  cross_entropy compiled (the op's tests, its own, its planted bugs),
#                 then benchmarks/cross_entropy_probe.py (forward and forward + backward
#                 against F.cross_entropy and a copy, at vocabularies of 32000 to 128256)
#                 and the op's bench rows
#   s42-ce-followup  cross_entropy's forward with each design forced against a copy
#                 (cross_entropy_probe.py --designs), its host cost beside softmax's
#   s43-ce-aligned  cross_entropy's streamed forward from each row's 16-byte boundary:
#                 tests compiled, the designs against a copy (and before, in .alt), the
#                 probe against F.cross_entropy, host cost, bench rows
#   s44-ce-2048   cross_entropy streamed in blocks of 2048, its backward aligned: the
#                 probe, tests compiled, the bench rows; then softmax's tests compiled and
#                 its looped 16-bit rows timed (two_pass_floor.py) against .alt
#   s45-ce-weights  s44 with class weights and probabilities: cross_entropy's and
#                 softmax's tests compiled, the probe with and without weights
#                 (--weighted) and against class probabilities (--soft)
#   s46-ce-short  the least of it, for a call of 300 s: cross_entropy's tests compiled
#                 and the probe against class probabilities
#   s29-conv-early-ab  conv2d launched early after its copies (EARLY_AFTER_COPIES), on and
#                 off, alternating in one process (benchmarks/conv_early_probe.py); merged
#                 after 2026-12-06-h100 call 2 (s28-early-conv, the first timing, at 4d4d244)
#   dw-ncu-rest   ncu on the depthwise shapes short of 70% that are not FMA-bound (7 x 7
#                 stride 2, 512 x 28^2), each on the config its tuner chose, and timed
#   pair-cold     conv2d's paired copies (7d18956, carried as .pair/) timed off and on
#   conv-parts    an NCHW conv2d call's parts (its copies to channels-last), the copies' tiles
#   boxes-64      boxes of 64 filters 16 and 32 columns wide: each config timed, tests
#   replay-generic every replayed launcher against its planned call, tuning first
#   host-inline   the sender's inline C call: tests, host cost against .base/
#   host-sender   replays through generated senders: tests, host cost against
#                 .base/, the pieces; conv2d whole calls dirty-cold, clean-cold, warm
#   conv-replay   conv2d and attention replayed across their launches: tests, the
#                 3 x 3 conv2d shapes' whole calls against cuDNN, host cost, its pieces
#   close-12      issue 12's missing float16 rows: the backward at 16384, the forward
#   rows-sweep    the depthwise row strips swept, the depthwise table, the attention
#                 backward in float16 (run in 2026-12-03g as parts of close-a to close-c)
#   bwd-tables    attention's forward and backward tables, bf16 and fp16
#   unmasked      attention's forward with unmasked key blocks: tests compiled, tables
#   batched-default  the 16-bit matmul table, batched GEMMs through TMA by default
#   split-rows    rows split over programs (softmax, add_row_sum): tests compiled, the
#                 sweep against the looped kernel, the benchmark table
#   tma-batched   batched GEMMs through 3-D descriptors, backward launches through fast:
#                 tests compiled, every TMA config on every shape, host cost, attention
#   ln-bwd        layer_norm backward's walkers swept on this GPU (warps, walkers per SM),
#                 after the row sums became one reduction (untimed)
#   replays       replayed launches, graph-timed tuning and C through a descriptor: tests
#                 compiled, vendor.py matmul-tma (every TMA config forced), host cost,
#                 vendor.py --sweep matmul-small, matmul-probe and the 16-bit matmul table
# gpu-new and parity each want a device call of their own: on the H200 (2026-12-02)
# gpu-new ran 163 tests in 305 s, cut by its limit. Parity (-n 14, unsharded) ran 247 of
# 262 tests in 564 s: one test is one op and dtype, and matmul.grad float32 alone took
# 512 s, so the step now splits each differential test's cases over 4 shards. Sharded
# (2026-12-02, third session) the whole suite passed 360 of 380 tests in 520 s, and its
# matmul, attention and conv2d differential tests alone 53 of 72 in 330 s: two calls.
# With --triton-autotune=first (fourth session) parity-heavy passed 144 of 144 in 102 s
# and parity-light 307 (14 skipped) in 117 s: one call holds both. Since then the suite
# grew: on an H100 (2026-12-06d, call 1) parity-light passed 531 (38 skipped) in 484 s,
# past its old 480 s limit, so a call now holds it and little else.
# Parity needs an interpreter that runs on the machine's NumPy: Triton 3.6's does not on
# NumPy >= 2.4, so a NumPy < 2.4 wheel in .whl/ is installed to /tmp/site for it.
set -u
OUT="${OUT:-gpu-steps-out}"
STEPS="${STEPS:-gpu-new parity-light parity-heavy memcheck}"
LIMIT="${LIMIT:-}"
export PYTHONPATH=. PYTHONUNBUFFERED=1 HARNESS_FAILURE_LOG="$OUT/failures.log"
export HARNESS_CASE_LOG="$OUT/cases.jsonl"  # a line a case: `python -m harness cases` sums it
mkdir -p "$OUT"
SUMMARY=()

step() {  # step NAME LIMIT_S CMD...
    local name="$1" limit="${LIMIT:-$2}" start=$SECONDS
    shift 2
    echo "=== $name: $*" | tee -a "$OUT/$name.txt"
    timeout -s INT -k 20 "$limit" "$@" >>"$OUT/$name.txt" 2>&1
    local rc=$?
    SUMMARY+=("$name: exit $rc after $((SECONDS - start)) s; $(grep -E '^(=+ )?[0-9]+ (passed|failed)|(passed|failed|error).* in [0-9.]+s' "$OUT/$name.txt" | tail -1)")
    echo "${SUMMARY[-1]}"
}

host_rounds() {  # host_rounds N LIMIT_S: the row-wise ops' host cost, .base/ and this tree
    local round ops="vector_add scale softmax add_row_sum layer_norm"
    for round in $(seq "$1"); do
        # shellcheck disable=SC2086
        (cd .base && PYTHONPATH=. step "host-base-$round" "$2" python benchmarks/host_cost.py \
            $ops --rounds 5)
        # shellcheck disable=SC2086
        step "host-new-$round" "$2" python benchmarks/host_cost.py $ops --rounds 5
    done
}

replay_tests() {  # replay_tests NAME: every replayed launcher's tests, compiled
    step "$1" 120 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
        --triton-autotune=first tests/test_fast_launch.py tests/test_conv2d.py \
        tests/test_attention.py tests/test_ops.py -k "fast or replay or allocated or \
        keeps_nothing or ((vector_add or scale or softmax or add_row_sum or layer_norm) \
        and not grad)"
}

old_numpy() {
    if [ ! -d /tmp/site ] && ls .whl/numpy-*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --target /tmp/site .whl/numpy-*.whl
    fi
    echo "/tmp/site:."
}

NIGHTLY=(python -m pytest -n "${WORKERS:-15}" --dist worksteal --triton-mode=gpu --triton-budget=16
    --triton-shards="${SHARDS:-4}" --triton-autotune="${NIGHT_AUTOTUNE:-first}"
    --hypothesis-profile=thorough tests/test_ops.py -p no:cacheprovider -v --durations=30)

# -v: a run cut by its limit still names every test that passed.
# AUTOTUNE=first (the default here): autotuned kernels take the first config their pruning
# keeps (the twin runs the same config either way; the config test still runs every
# config). On the H200 parity-heavy then took 102 s where timing every config had not
# finished in 330 s (benchmarks/results/2026-12-02d-h200); AUTOTUNE=time times them.
PARITY=(python -m pytest -n 14 -v -p no:cacheprovider --dist worksteal --triton-shards=4
    --durations=20 --triton-mode=parity --triton-autotune="${AUTOTUNE:-first}"
    tests/test_ops.py tests/test_parity.py)
HEAVY="differential and (matmul or attention or conv2d)"
HEAVY_OPS="${HEAVY_OPS:-matmul or attention or conv2d}"  # parity-heavy's share of them

for name in $STEPS; do
    case "$name" in
    gpu-new)
        step gpu-new 575 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_matmul.py tests/test_attention.py tests/test_conv2d.py \
            tests/test_autotune.py tests/test_parity.py tests/test_memcheck.py tests/test_ops.py \
            -k "matmul or attention or conv2d or autotune or parity or memcheck" ;;
    parity | parity-light)
        site="$(old_numpy)"
        PYTHONPATH="$site" step parity-light 570 "${PARITY[@]}" -k "not ($HEAVY)"
        PYTHONPATH="$site" step parity-plants 60 python -m harness check --mode parity \
            --ops tests.parity_plants:PLANTED --dtype float32 --examples 20 ;;
    parity-heavy)
        site="$(old_numpy)"
        # 8 shards: the long poles (matmul.grad float32, conv2d.grad) split finer
        PYTHONPATH="$site" step parity-heavy 560 "${PARITY[@]}" --triton-shards=8 \
            -k "differential and ($HEAVY_OPS)" ;;
    memcheck)
        step memcheck 110 python -m pytest -n 4 -q -p no:cacheprovider --triton-mode=gpu \
            --memcheck tests/test_ops.py -k "differential and (vector_add or scale or softmax)" ;;
    costs)
        # What each check costs: the same differential tests compiled, in parity mode
        # (each case also interpreted) and under compute-sanitizer, one after another.
        site="$(old_numpy)"
        for mode in gpu parity memcheck; do
            flags=(--triton-mode="$mode")
            [ "$mode" = memcheck ] && flags=(--triton-mode=gpu --memcheck)
            PYTHONPATH="$site" step "costs-$mode" 180 python -m pytest -n 4 -q -p no:cacheprovider --hypothesis-seed=0 \
                "${flags[@]}" tests/test_ops.py -k "differential and (vector_add or scale or softmax)"
        done ;;
    nightly)
        step nightly 580 "${NIGHTLY[@]}" -k differential ;;
    nightly-rows)
        step nightly-rows "${LIMIT:-540}" "${NIGHTLY[@]}" -k "differential and not (matmul or attention or conv2d)${ONLY:+ and ($ONLY)}" ;;
    nightly-matmul)
        step nightly-matmul "${LIMIT:-540}" "${NIGHTLY[@]}" -k "differential and matmul${ONLY:+ and ($ONLY)}" ;;
    nightly-gemms)
        # matmul, attention and conv2d in one run, so that worksteal keeps every worker
        # busy across families (ONLY="shard1of16 or shard2of16" with SHARDS=16: 36 tests)
        step nightly-gemms "${LIMIT:-560}" "${NIGHTLY[@]}" -k "differential and (matmul or attention or conv2d)${ONLY:+ and ($ONLY)}" ;;
    two-pass-floor)
        # Issue 10: softmax's long 16-bit rows against their access pattern without the
        # softmax, and the looped kernel capped at 32 registers (two programs an SM)
        # (2026-12-06g, H100: the pattern alone 69-82% of a same-size copy, softmax
        # 71-85%; the row held in registers, timed then, is on softmax-resident-row).
        step two-pass-floor 200 python benchmarks/two_pass_floor.py ;;
    repro-k133003)
        # The night run's failure of 2026-12-06f (matmul bfloat16, K = 133003, non-negative
        # values) under the tensor-core bound of fe7dcd7.
        step repro-k133003 150 python -m harness repro --ops ops --mode gpu '{"dtype": "bfloat16", "op": "matmul", "params": {"activation": null, "b_layout": "contiguous", "batch": "a", "bias": false, "layout": "padded", "precision": "ieee", "specials": false, "values": "positive"}, "seed": 710852398, "shape": [2, 242, 133003, 1]}' ;;
    repro-tf32)
        step repro-tf32 150 python -m harness repro --ops ops --mode gpu '{"dtype": "float32", "op": "conv2d", "params": {"bias": true, "channels_last": true, "dilation": [1, 2], "filters": 75, "groups": 3, "kernel": [3, 2], "layout": "strided", "padding": [1, 1], "specials": true, "stride": 2, "values": "tiny", "w_layout": "contiguous"}, "seed": 1924184958, "shape": [23, 33, 25, 41]}' ;;
    night-costs)
        # Where a night run's large gradient case spends its time, on one core as each of
        # its 15 workers has one: the first run compiles and tunes the new shape, the
        # second only runs it (conv2d's oracle tap by tap since 1c24275).
        OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 step night-costs-matmul 200 \
            python benchmarks/profile_check.py matmul.grad float16 2048 4096 4096 \
            --params '{"activation": "gelu", "bias": true}'
        OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 step night-costs-conv2d 200 \
            python benchmarks/profile_check.py conv2d.grad float16 32 64 56 56 \
            --params '{"filters": 64, "kernel": [3, 3], "padding": 1, "bias": true}' ;;
    fp16-reduction)
        step fp16-reduction 120 python benchmarks/torch_fp16_reduction_probe.py ;;
    h200-tables)
        # No H200 came in 37 calls over six sessions (to 2026-12-06g): everything the two
        # issues still need from one, within a call's 600 s.
        step h200-two-pass-floor 60 python benchmarks/two_pass_floor.py
        step h200-rows-bench 230 python -m harness bench vector_add scale add_row_sum softmax \
            layer_norm layer_norm_backward --out "$OUT/bench-rows" --no-plots
        step h200-host-cost 140 python benchmarks/host_cost.py vector_add softmax layer_norm \
            --rounds 7
        step h200-conv 120 python benchmarks/vendor.py conv2d-cold --dtype float16 ;;
    nightly-attention)
        step nightly-attention "${LIMIT:-560}" "${NIGHTLY[@]}" -k "differential and attention${ONLY:+ and ($ONLY)}" ;;
    nightly-conv2d)
        step nightly-conv2d "${LIMIT:-560}" "${NIGHTLY[@]}" -k "differential and conv2d${ONLY:+ and ($ONLY)}" ;;
    rows)
        # Issue 10: the row-wise launchers (remembered plans, kernels._launch.fast)
        # compiled and checked, then their host cost and launch constants measured.
        step rows-tests 200 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_fast_launch.py tests/test_ops.py tests/test_large_shapes.py \
            -k "fast or ((vector_add or scale or softmax or add_row_sum or layer_norm) and not grad)"
        step rows-host 120 python benchmarks/host_cost.py vector_add scale softmax add_row_sum \
            layer_norm layer_norm_backward --rounds 7
        # where a softmax call's 24-37 us go, against 11 us offline (issue 10, target 4)
        step rows-profile 60 python benchmarks/host_cost.py softmax vector_add --rounds 3 --profile
        step rows-sweep 240 python benchmarks/tune_rowwise.py long-softmax long-add_row_sum scale fwd ;;
    autotune-cost)
        # What autotuning every drawn shape costs the GPU suite: matmul's differential
        # tests timing every config (the default) and taking the first one the pruning
        # keeps, each with an empty Triton cache of its own.
        for how in time first; do
            TRITON_CACHE_DIR="$(mktemp -d)" step "autotune-$how" 270 python -m pytest -n 12 -q \
                -p no:cacheprovider --triton-mode=gpu --triton-autotune="$how" --durations=8 \
                tests/test_ops.py -k "differential and matmul"
        done ;;
    launch)
        # The launch paths landed without a GPU (2026-12-02, fourth session): autotuned
        # kernels through kernels._launch.fast once tuned, the generated key functions,
        # float32 tf32 copying an N-major B K-major. Their tests compiled, then what they
        # cost on the host and what the tf32 copy buys.
        step launch-tests 240 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            --triton-autotune=first tests/test_fast_launch.py tests/test_autotune.py \
            tests/test_matmul.py tests/test_attention.py tests/test_conv2d.py tests/test_ops.py \
            -k "fast or autotune or matmul or attention or conv2d or softmax"
        step launch-host 90 python benchmarks/host_cost.py vector_add softmax layer_norm --rounds 7
        step launch-host-matmul 60 python benchmarks/host_cost.py matmul --shape 64 64 64 \
            --dtype bfloat16 --rounds 7
        step launch-probe 120 python benchmarks/vendor.py matmul-probe
        step launch-tma 240 python benchmarks/vendor.py matmul-tma --dtype bfloat16 --dtype float16 ;;
    tma)
        # The TMA designs (2026-12-02, fifth session): matmul's persistent configs and
        # its default for large 16-bit GEMMs, attention's descriptor forward. Their tests
        # compiled, each config timed against the pointer kernel and the vendors, then
        # vendor.py's matmul table with the new default.
        step tma-tests 200 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            --triton-autotune=first tests/test_matmul.py tests/test_attention.py \
            tests/test_ops.py -k "tma or (test_configs and (matmul or attention))"
        step tma-matmul 150 python benchmarks/vendor.py matmul-tma --dtype bfloat16 --dtype float16
        step tma-attention 200 python benchmarks/vendor.py attention-tma
        step tma-vendor-matmul 150 python benchmarks/vendor.py matmul ;;
    tma-tables)
        # After the TMA defaults: the suite's TMA and config-axis tests compiled, then
        # vendor.py's matmul and attention tables (forward and backward) as shipped.
        step tma-tests 200 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            --triton-autotune=first tests/test_matmul.py tests/test_attention.py \
            tests/test_ops.py -k "tma or (test_configs and (matmul or attention))"
        site="$(old_numpy)"
        PYTHONPATH="$site" step tma-parity 150 "${PARITY[@]}" tests/test_matmul.py \
            tests/test_attention.py -k "tma or (test_configs and (matmul or attention))"
        step tma-tables 300 python benchmarks/vendor.py matmul attention --json "$OUT/tables.json" ;;
    tma-backward)
        # The attention backward through descriptors: its tests compiled and in parity
        # mode, then vendor.py attention in bfloat16 (forward, backward, and the backward
        # with pointer loads in the same process).
        step tma-bwd-tests 60 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            --triton-autotune=first tests/test_attention.py tests/test_ops.py \
            -k "attention and (tma or backward or test_configs or differential)"
        site="$(old_numpy)"
        PYTHONPATH="$site" step tma-bwd-parity 45 "${PARITY[@]}" tests/test_attention.py \
            -k "backward or tma"
        step tma-bwd-tables 130 python benchmarks/vendor.py attention --dtype bfloat16 \
            --json "$OUT/attention.json" ;;
    pointwise)
        # conv2d's pointwise design (1 x 1 as one matmul; landed 2026-12-02 without a GPU):
        # its tests and config axis compiled, then timed against the implicit GEMM.
        step pointwise-tests 120 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_conv2d.py tests/test_ops.py \
            -k "conv2d and (pointwise or test_configs or differential)"
        step pointwise-bench 200 python benchmarks/vendor.py conv2d-pointwise ;;
    dw-final)
        # Issue 13: the plane table as shipped: conv2d's tests compiled, the float16
        # depthwise table (both layouts, against cuDNN and a copy).
        step dw-final-tests 220 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_conv2d.py tests/test_ops.py \
            -k "test_conv2d or (conv2d and (plane or depthwise) and not grad)"
        step dw-final-bench 250 python benchmarks/vendor.py depthwise --dtype float16 ;;
    dw-vec)
        # Issue 13: the walking plane programs' strips as aligned vectors: the sweep, ncu
        # on the designs forced, every conv2d output written (depthwise shapes too).
        step dw-vec-sweep 300 python benchmarks/vendor.py --sweep depthwise-walks
        step dw-vec-ncu 60 ncu --section SpeedOfLight --section Occupancy \
            -k regex:depthwise -c 14 python benchmarks/depthwise_probe.py
        step conv-replay-check 90 python benchmarks/conv_replay_check.py ;;
    dw-walk)
        # Issue 13: the plane kernel's programs walking tiles down the plane (TILES).
        step dw-walk-sweep 230 python benchmarks/vendor.py --sweep depthwise-nchw
        step dw-walk-bench 170 python benchmarks/vendor.py depthwise --dtype float16
        step dw-walk-ncu 120 ncu --section SpeedOfLight --section SchedulerStats \
            --section WarpStateStats --section MemoryWorkloadAnalysis --section Occupancy \
            -k regex:depthwise -c 14 python benchmarks/depthwise_probe.py ;;
    depthwise)
        # The taps as compile-time constants (2026-12-03): unrolled loads. Tests compiled,
        # each layout's configs swept, the table, then where a 7x7 launch's time goes.
        step depthwise-tests 90 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_conv2d.py tests/test_ops.py \
            -k "conv2d and (depthwise or plane or test_configs or differential)"
        step depthwise-sweep 240 python benchmarks/vendor.py --sweep depthwise
        step depthwise-probe 60 python benchmarks/depthwise_probe.py --time
        step depthwise-ncu 90 ncu --section SpeedOfLight --section ComputeWorkloadAnalysis \
            --section MemoryWorkloadAnalysis --section Occupancy -k regex:depthwise -c 6 \
            python benchmarks/depthwise_probe.py
        step depthwise-bench 120 python benchmarks/vendor.py depthwise ;;
    replays)
        # Replays, graph-timed tuning and matmul's C_DESCRIPTOR configs (2026-12-03, second
        # session), none yet seen through on a GPU: their tests compiled (the tuner really
        # timing), each TMA config timed, the host cost, the small-GEMM sweep from graphs,
        # then the probe and the 16-bit table.
        step replays-tests 150 python -m pytest -n 8 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_fast_launch.py tests/test_autotune.py \
            tests/test_matmul.py tests/test_layer_norm_module.py
        step replays-host 90 python benchmarks/host_cost.py vector_add softmax layer_norm \
            add_row_sum --rounds 7
        step replays-probe 90 python benchmarks/vendor.py matmul-probe --dtype bfloat16 \
            --dtype float16
        step replays-table 150 python benchmarks/vendor.py matmul --dtype bfloat16 \
            --dtype float16
        # last: what a call cut by the device's limit can spare
        step replays-tma 200 python benchmarks/vendor.py matmul-tma --dtype bfloat16 \
            --dtype float16
        step replays-sweep 150 python benchmarks/vendor.py --sweep matmul-small ;;
    descriptors)
        # Launches with tensor descriptors (matmul's and attention's TMA designs) through
        # `fast` and replays, forced configs too (2026-12-03, third session): before, each
        # went through Triton's dispatch, 126-160 us a call of vendor.py matmul-tma at
        # 1024^3-2048^3. Tests compiled, host cost (forced and default TMA, row-wise ops
        # with a profile), each TMA config timed, the 16-bit table.
        step desc-tests 180 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_fast_launch.py tests/test_autotune.py tests/test_matmul.py \
            tests/test_attention.py -k "replay or fast or key or tma or config or autotune"
        step desc-host 150 bash -c 'for shape in "1024 1024 1024" "4096 4096 4096"; do
            python benchmarks/host_cost.py matmul --shape $shape --dtype bfloat16 --rounds 5
            python benchmarks/host_cost.py matmul --shape $shape --dtype bfloat16 --rounds 5 \
                --force matmul/tma-128x256x64-g8-p1-w8-s3/gpu; done
            python benchmarks/host_cost.py vector_add softmax layer_norm --rounds 7'
        step desc-profile 90 python benchmarks/host_cost.py vector_add softmax --rounds 3 \
            --profile --top 16
        step desc-tma 200 python benchmarks/vendor.py matmul-tma --dtype bfloat16 --dtype float16
        step desc-table 150 python benchmarks/vendor.py matmul --dtype bfloat16 --dtype float16 ;;
    tma-fast)
        # Every TMA launch went through Triton's dispatch (2026-12-03c: the kernel's
        # C_DESCRIPTOR default stopped the fast launch's keyer), 96-150 us of host a call:
        # fixed, then the TMA configs timed again, TMA from 2048^3 (TMA_MIN_WORK 2**33)
        # against the default in the same process, host cost, the walkers' sweep.
        step fast-tests 150 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_fast_launch.py tests/test_matmul.py tests/test_attention.py \
            -k "replay or fast or key or default or tma or config"
        step fast-host 120 bash -c 'for force in "" "--force matmul/tma-128x256x64-g8-p1-w8-s3/gpu"; do
            python benchmarks/host_cost.py matmul --shape 4096 4096 4096 --dtype bfloat16 \
                --rounds 5 $force; done
            python benchmarks/host_cost.py vector_add softmax layer_norm --rounds 7'
        step fast-tma 120 python benchmarks/vendor.py matmul-tma --dtype bfloat16 --dtype float16
        step fast-table 120 python benchmarks/vendor.py matmul --dtype bfloat16 --dtype float16
        step fast-table-2048 120 python benchmarks/vendor.py matmul --dtype bfloat16 \
            --dtype float16 --set kernels.matmul.TMA_MIN_WORK=2**33
        step ln-bwd-walkers 150 python benchmarks/tune_rowwise.py bwd-walkers ;;
    tma-default)
        # After tma-fast (2026-12-03c): TMA from 2048^3 (TMA_MIN_WORK 2**33), a forced
        # replay named, 8 walker warps in layer_norm's backward. Tests compiled, the
        # 16-bit table, matmul's host cost at 2048^3 (TMA by default now).
        step default-tests 240 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_fast_launch.py tests/test_matmul.py tests/test_row_plans.py \
            tests/test_ops.py -k "replay or fast or key or default or tma or layer_norm_backward"
        step default-table 120 python benchmarks/vendor.py matmul --dtype bfloat16 --dtype float16
        step default-host 60 python benchmarks/host_cost.py matmul --shape 2048 2048 2048 \
            --dtype bfloat16 --rounds 5 ;;
    tma-batched)
        # Not yet on a GPU (2026-12-03c): batched GEMMs through 3-D descriptors (forced
        # only), and attention's and layer_norm's backward launches through `fast` (they
        # went through Triton's dispatch, three to four launches a call). Their tests
        # compiled, every TMA config timed on every shape (32 x 1024^3 included, where the
        # pointer kernel ran 0.78-0.92x cuBLAS), layer_norm_backward's host cost, then the
        # attention table (the forward's tuned launches took Triton's dispatch too until
        # that session: its TMA default stopped the fast launch).
        step batched-tests 220 python -m pytest -n 8 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_matmul.py tests/test_fast_launch.py \
            tests/test_attention.py tests/test_ops.py -k "tma or replay or (matmul and \
            (configs or differential)) or attention or layer_norm_backward"
        step batched-tma 150 python benchmarks/vendor.py matmul-tma --dtype bfloat16 \
            --dtype float16
        step batched-host 40 python benchmarks/host_cost.py layer_norm_backward --rounds 5
        step batched-attention 150 python benchmarks/vendor.py attention --dtype bfloat16 ;;
    split-rows)
        # Issue 10, target 1: rows past WHOLE_ROW_MAX split over programs that wait for
        # each other (softmax, add_row_sum; 2026-12-03d, not yet on a GPU): tests compiled
        # (the exchange under 240000 programs too), the sweep against the looped kernel,
        # then the benchmark table (% of a same-size copy).
        step split-tests 130 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_row_plans.py tests/test_ops.py tests/test_launch_paths.py \
            -k "row_plans or ((softmax or add_row_sum) and not grad)"
        step split-sweep 200 python benchmarks/tune_rowwise.py split-softmax split-add_row_sum
        step split-bench 100 python -m harness bench softmax add_row_sum ;;
    conv-tma)
        # conv2d's TMA designs (boxes, rows; 2026-12-03e): tests and the config axis
        # compiled, each shape on the implicit GEMM and the TMA design against cuDNN
        # (do_bench and CUDA-graph device times, the tuner's timings per config), then
        # where a call's host time goes.
        step conv-tma-tests 120 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_conv2d.py tests/test_ops.py \
            -k "conv2d and (tma or boxes or rows or channels_last or test_configs or int32)"
        step conv-tma-designs 330 python benchmarks/vendor.py conv2d-tma
        step conv-tma-host 60 python benchmarks/host_cost.py conv2d --shape 2 64 8 8 \
            --dtype float16 --rounds 3 --profile --top 25 ;;
    conv-dx)
        # dx of stride-1 convolutions on the TMA designs (2026-12-03e): the conv2d tests
        # that force them, and the gradient's differential tests compiled, then dx timed
        # against cuDNN's data gradient.
        step conv-dx-tests 150 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_conv2d.py tests/test_ops.py \
            -k "conv2d and (tma or boxes or rows or dx_of or grad or backward)"
        step conv-dx-bench 200 python benchmarks/vendor.py conv2d-dx ;;
    bwd-blocks)
        # The attention backward's unmasked blocks, and its two kernels' configs chosen
        # apart (2026-12-03f): tests compiled, then the sweep of each kernel's candidates.
        step bwd-tests 150 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            --triton-autotune=first tests/test_attention.py tests/test_ops.py -k attention
        step bwd-sweep 400 python benchmarks/vendor.py --sweep attention-grad ;;
    bwd-tables)
        # After bwd-blocks: the forward and backward tables against SDPA, both dtypes.
        step bwd-bf16 200 python benchmarks/vendor.py attention --dtype bfloat16
        step bwd-fp16 200 python benchmarks/vendor.py attention --dtype float16 ;;
    bwd-strips)
        # After bwd-blocks (2026-12-03f): the backward's configs per head_dim, tests and the
        # bf16 table; the depthwise channels-last strips (70d580e), tests and table.
        step bwd-tests 120 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            --triton-autotune=first tests/test_attention.py tests/test_ops.py \
            -k "attention and (grad or backward or tma)"
        step strips-tests 90 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_conv2d.py tests/test_ops.py \
            -k "conv2d and (depthwise or test_configs or differential) and not grad"
        step strips-bench 120 python benchmarks/vendor.py depthwise
        step bwd-bf16 200 python benchmarks/vendor.py attention --dtype bfloat16 ;;
    strips-final)
        # The NCHW plane kernel in strips too (5207908, 95df4b2) and the causal dQ kernel's
        # order (b7fccd1): tests compiled, vendor.py depthwise (float16) and attention-grad.
        step strips-tests 75 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_conv2d.py tests/test_ops.py \
            -k "conv2d and (depthwise or plane or test_configs or differential) and not grad"
        step strips-fp16 170 python benchmarks/vendor.py depthwise --dtype float16
        step strips-probe 45 python benchmarks/depthwise_probe.py --time
        step grad-bf16 90 python benchmarks/vendor.py attention-grad --dtype bfloat16 ;;
    rows-sweep)
        # Prepared 2026-12-03f, run in 2026-12-03g in parts (close-a to close-c): the
        # depthwise row strips (4b6922c) and NCHW 7x7 stride 1 on the plane kernel through its tuner (the band kernel gone):
        # tests compiled, the sweep of each layout's candidates, the table; then the
        # attention backward in float16 (untimed since its configs per head_dim).
        step rows-tests 90 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_conv2d.py tests/test_ops.py \
            -k "conv2d and (depthwise or plane or test_configs or differential) and not grad"
        step rows-sweep 240 python benchmarks/vendor.py --sweep depthwise
        step rows-bench 150 python benchmarks/vendor.py depthwise
        step grad-fp16 90 python benchmarks/vendor.py attention-grad --dtype float16 ;;
    close-a)
        # 2026-12-03g call 1: the whole matmul table (16-bit and float32, device-time ratio
        # too), then rows-sweep's tests and sweep of the depthwise row strips (4b6922c).
        step matmul-table 220 python benchmarks/vendor.py matmul --json "$OUT/matmul.json"
        step rows-tests 75 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_conv2d.py tests/test_ops.py \
            -k "conv2d and (depthwise or plane or test_configs or differential) and not grad"
        step rows-sweep 250 python benchmarks/vendor.py --sweep depthwise ;;
    close-b)
        # 2026-12-03g call 2, after close-a: test_keeps_nothing and the depthwise row tables
        # compiled; the float32 matmul table (close-a's ran out of memory: 2b74455 fixed the
        # leak); ncu on attention (ours against cuDNN's forward and flash's backward); the
        # float16 backward; the depthwise table in float16.
        step close-tests 75 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            --triton-autotune=first tests/test_ops.py tests/test_conv2d.py \
            -k "keeps_nothing or (conv2d and (depthwise or plane) and not grad)"
        step matmul-f32 110 python benchmarks/vendor.py matmul --dtype float32
        step attention-ncu 100 ncu --profile-from-start off --nvtx --section SpeedOfLight \
            --section ComputeWorkloadAnalysis --section WarpStateStats --section Occupancy \
            --section LaunchStats python benchmarks/attention_probe.py
        step grad-fp16 90 python benchmarks/vendor.py attention-grad --dtype float16
        step depthwise-fp16 150 python benchmarks/vendor.py depthwise --dtype float16 ;;
    close-c)
        # 2026-12-03g call 3: conv2d's replay test compiled (never run on a GPU before), then
        # the depthwise float16 table's last four shapes (close-b's was cut by its limit
        # while compiling the 7 x 7 row strips).
        step replay-tests 60 python -m pytest -n 4 -q -p no:cacheprovider --triton-mode=gpu \
            --triton-autotune=first tests/test_conv2d.py -k "replayed"
        step depthwise-fp16-rest 420 python benchmarks/vendor.py depthwise --dtype float16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 256, 56, 7, 1), (32, 256, 56, 7, 2), \
(32, 512, 28, 3, 1), (32, 96, 56, 7, 1)]" ;;
    host-direct)
        # Issue 10, target 4 (2026-12-03h): the CUDA launcher's C function called directly,
        # the row-wise ops and scale replayed at their public function. Tests compiled,
        # host cost against the tree in .base/ (carried; alternating), the vector_add and
        # scale sweeps (target 2), and the float16 attention rows at 1024 again (issue 12:
        # the causal row ran 1.36x the non-causal time there, 0.81 in bfloat16).
        step direct-tests 150 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_fast_launch.py tests/test_ops.py -k "fast or replay or \
            ((vector_add or scale or softmax or add_row_sum or layer_norm) and not grad)"
        host_rounds 2 60
        step host-profile 40 python benchmarks/host_cost.py vector_add softmax --rounds 2 --profile
        step elementwise-sweep 150 python benchmarks/tune_rowwise.py vector_add scale
        step attention-1024 90 python benchmarks/vendor.py attention --dtype float16 \
            --set "__main__.ATTENTION_SHAPES=[(4, 1024)]" ;;
    c-launch)
        # What the direct C launch saves per launch (host-direct could not tell it from
        # the host's noise), then the 16-bit split-rows sweep (issue 10, target 1).
        step c-launch 60 python benchmarks/host_cost.py --c-launch --rounds 9
        step split-16bit 150 python benchmarks/tune_rowwise.py split-softmax split-add_row_sum ;;
    direct-heavy)
        # The direct C launch under every launch kind (TMA descriptors through Triton
        # 3.6's tensor-descriptor wrapper, replays, autotuned kernels): matmul, attention
        # and conv2d tests compiled; then the looped softmax with one exp an element
        # (a row max, per-lane sums) against the tree in .base/ (a max per lane).
        step heavy-tests 220 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            --triton-autotune=first tests/test_matmul.py tests/test_attention.py \
            tests/test_conv2d.py tests/test_ops.py -k "tma or replay or fast or boxes or rows \
            or ((matmul or attention or conv2d) and configs)"
        for round in 1 2; do
            (cd .base && PYTHONPATH=. step "looped-base-$round" 60 python \
                benchmarks/tune_rowwise.py long-softmax)
            step "looped-new-$round" 60 python benchmarks/tune_rowwise.py long-softmax
        done ;;
    close-13)
        # Issue 13's table on this tree (the direct C launch in): each stride-1 shape on
        # the implicit GEMM and the TMA designs against cuDNN, device and whole-call time;
        # then issue 10's long rows under ncu (benchmarks/rows_probe.py).
        step conv-table 330 python benchmarks/vendor.py conv2d-tma
        step rows-ncu 120 ncu --profile-from-start off --nvtx --section SpeedOfLight \
            --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
            --section WarpStateStats python benchmarks/rows_probe.py ;;
    ftz-softmax)
        # Issue 10, target 1 (2026-12-04): softmax's exps on ex2.approx.ftz (sm_90 SASS of
        # the looped kernel, float16: 30 -> 21 instructions an element). Tests compiled,
        # then tune_rowwise.py long-softmax against .base/ (the tree before; carried).
        step ftz-tests 100 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_ops.py -k "softmax"
        (cd .base && PYTHONPATH=. step "long-softmax-base" 60 python \
            benchmarks/tune_rowwise.py long-softmax)
        step "long-softmax-new" 60 python benchmarks/tune_rowwise.py long-softmax ;;
    replay-generic)
        # Every replayed launcher (row-wise, matmul, attention, conv2d) checked call by
        # call against the same call planned in full, its first call tuning while its
        # other kernels are compiled (2026-12-04); the sender's inline C launch under the
        # heavy ops' replay tests; the row-wise host cost once more.
        step replay-generic-tests 150 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_fast_launch.py \
            tests/test_conv2d.py tests/test_attention.py -k "fast or replay or allocated or \
            keeps_nothing or descriptor or direct"
        step rows-host 40 python benchmarks/host_cost.py vector_add scale softmax \
            add_row_sum layer_norm --rounds 5 ;;
    host-inline)
        # Issue 10, target 4 (2026-12-04): a replay's sender calls Triton's C launcher
        # inline (no `direct` frame). Tests compiled, host cost against .base/ (the tree
        # before this session's host changes; carried), three rounds alternating, the
        # pieces, and the conv2d and attention calls' host cost.
        step inline-tests 90 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_fast_launch.py \
            tests/test_conv2d.py tests/test_attention.py tests/test_ops.py -k "fast or \
            replay or allocated or keeps_nothing or tma or boxes"
        host_rounds 3 40
        step host-parts 30 python benchmarks/host_cost.py --parts --rounds 5
        step conv-host 40 python benchmarks/host_cost.py conv2d --shape 32 64 56 56 \
            --dtype float16 --rounds 5
        step attention-host 40 python benchmarks/host_cost.py attention attention.grad \
            --shape 4 16 1024 1024 64 --dtype float16 --rounds 5 ;;
    host-sender)
        # Issue 10, target 4 (2026-12-04): replays sent through a generated function, the
        # signatures inlined, outputs allocated like an input, the device read without
        # torch's wrapper. Tests compiled, host cost against the tree in .base/ (carried;
        # alternating), the pieces of a replayed call; then (issue 13) where a whole
        # conv2d call loses to cuDNN: dirty-cold, clean-cold and warm timings.
        replay_tests sender-tests
        host_rounds 2 40
        step host-parts 30 python benchmarks/host_cost.py --parts --rounds 5
        step attention-host 40 python benchmarks/host_cost.py attention attention.grad \
            --shape 4 16 1024 1024 64 --dtype float16 --rounds 5
        step conv-cold 150 python benchmarks/vendor.py conv2d-cold --dtype float16 \
            --set "__main__.CONV_SHAPES=[(32, 64, 56, 64, 3, 1, 1, 1), \
            (32, 128, 28, 128, 3, 1, 1, 1), (32, 256, 14, 256, 3, 1, 1, 1)]" ;;
    host-generated)
        # Issue 10, target 4 (2026-12-04, eleventh session): a replay allocates its outputs
        # and makes its launches in one generated function (`_replayer`). The replay tests
        # compiled; host cost against .base/ (825dcde, carried), two rounds alternating;
        # the pieces of a replayed call, the allocations among them.
        replay_tests replay-tests
        host_rounds 2 40
        step host-parts 30 python benchmarks/host_cost.py --parts --rounds 5 ;;
    pair-cold)
        # Issue 13: an NCHW x and its filters copied to channels-last in one launch
        # (PAIRED_COPIES, in the tree of 7d18956 carried as .pair/) against two launches:
        # the 3 x 3 whole calls dirty, clean and warm against cuDNN, without, then with.
        for paired in False True; do
            (cd .pair && PYTHONPATH=. step "pair-cold-$paired" 120 python \
                benchmarks/vendor.py conv2d-cold --dtype float16 \
                --set "kernels.conv2d.PAIRED_COPIES=$paired" \
                --set "__main__.CONV_SHAPES=[(32, 64, 56, 64, 3, 1, 1, 1), \
                (32, 128, 28, 128, 3, 1, 1, 1), (32, 256, 14, 256, 3, 1, 1, 1)]")
        done ;;
    conv-memcheck)
        # conv2d's copies to channels-last (the paired copy of x and the filters, on by
        # default since 2026-12-04c) under compute-sanitizer memcheck.
        step conv-memcheck 150 python -m pytest -n 4 -q -p no:cacheprovider \
            --triton-mode=gpu --memcheck tests/test_conv2d.py \
            -k "one_launch or paired_copies or channels_last_copy" ;;
    conv-final)
        # conv2d as shipped after 2026-12-04c (paired copies, the filters' tile (64, 16,
        # 4)): its copy, replay and TMA tests compiled; the 3 x 3 whole calls against cuDNN
        # in both 16-bit dtypes.
        step conv-final-tests 120 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_conv2d.py tests/test_ops.py \
            -k "conv2d and (replay or copy or launch or paired or tma or boxes or differential)"
        for dtype in float16 bfloat16; do
            step "conv-final-$dtype" 90 python benchmarks/vendor.py conv2d-cold --dtype "$dtype" \
                --set "__main__.CONV_SHAPES=[(32, 64, 56, 64, 3, 1, 1, 1), \
                (32, 128, 28, 128, 3, 1, 1, 1), (32, 256, 14, 256, 3, 1, 1, 1)]"
        done ;;
    conv-close)
        # After conv-final: every test of tests/test_conv2d.py compiled, then the 1 x 1
        # shapes' whole calls against cuDNN (float16), as shipped.
        step conv-close-tests 100 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_conv2d.py
        step conv-close-1x1 45 python benchmarks/vendor.py conv2d-cold --dtype float16 \
            --set "__main__.CONV_SHAPES=[(32, 256, 56, 64, 1, 1, 0, 1), \
            (32, 64, 56, 256, 1, 1, 0, 1)]" ;;
    conv-bf16)
        # conv2d's paired copies in bfloat16: the 3 x 3 whole calls off, then on (default).
        for paired in False True; do
            step "conv-bf16-$paired" 90 python benchmarks/vendor.py conv2d-cold \
                --dtype bfloat16 --set "kernels.conv2d.PAIRED_COPIES=$paired" \
                --set "__main__.CONV_SHAPES=[(32, 64, 56, 64, 3, 1, 1, 1), \
                (32, 128, 28, 128, 3, 1, 1, 1), (32, 256, 14, 256, 3, 1, 1, 1)]"
        done ;;
    conv-parts)
        # Where an NCHW conv2d call's time goes (vendor.py conv2d-parts): the whole call in
        # both formats, x's and the filters' copies to channels-last alone against a clone
        # of x, and the copy's tile swept.
        step conv-parts 180 python benchmarks/vendor.py conv2d-parts --dtype float16 \
            --set "__main__.CONV_SHAPES=[(32, 64, 56, 64, 3, 1, 1, 1), \
            (32, 128, 28, 128, 3, 1, 1, 1), (32, 256, 14, 256, 3, 1, 1, 1)]" ;;
    boxes-64)
        # Boxes of 64 filters 16 and 32 columns wide (NCHW output in longer runs): each
        # config's time on the 3 x 3 shapes of 56 and 28 (vendor.py conv2d-tma), then the
        # boxes' tests compiled, the new configs forced.
        step boxes-64-table 100 python benchmarks/vendor.py conv2d-tma --dtype float16 \
            --set "__main__.CONV_SHAPES=[(32, 64, 56, 64, 3, 1, 1, 1), \
            (32, 128, 28, 128, 3, 1, 1, 1)]"
        step boxes-64-tests 110 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_conv2d.py tests/test_ops.py \
            -k "(conv2d and configs and boxes) or tma or boxes" ;;
    conv-replay)
        # conv2d and attention replayed across their launches. Run 2026-12-04 (results
        # 2026-12-04-h200/call1): tests passed, but the table's replays were wrong (a call
        # that tuned was kept, f355ebb). Now: tests compiled, the 3 x 3 conv2d shapes'
        # whole calls (do_bench) and device time against cuDNN, both 16-bit dtypes, the
        # host cost of conv2d and attention calls, the pieces of a replayed call, and the
        # row-wise ops' host cost.
        step conv-replay-tests 120 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu --triton-autotune=first tests/test_conv2d.py \
            tests/test_fast_launch.py tests/test_attention.py tests/test_ops.py -k "replay or \
            tma or boxes or rows or channels_last or fast or allocated or keeps_nothing"
        step conv-replay-table 130 python benchmarks/vendor.py conv2d-tma --dtype float16 \
            --dtype bfloat16 --set "__main__.CONV_SHAPES=[(32, 64, 56, 64, 3, 1, 1, 1), \
            (32, 128, 28, 128, 3, 1, 1, 1), (32, 256, 14, 256, 3, 1, 1, 1)]"
        step conv-replay-host 40 python benchmarks/host_cost.py conv2d --shape 32 64 56 56 \
            --dtype float16 --rounds 5
        step attention-replay-host 40 python benchmarks/host_cost.py attention attention.grad \
            --shape 4 16 1024 1024 64 --dtype float16 --rounds 5
        step host-parts 40 python benchmarks/host_cost.py --parts --rounds 5
        step rows-host 60 python benchmarks/host_cost.py vector_add scale softmax add_row_sum \
            layer_norm --rounds 5 ;;
    close-12)
        # Next (prepared 2026-12-03g): what issue 12's table still lacks, float16: the
        # backward at seq 16384 (close-b cut its D = 128 rows) and the whole forward table.
        step grad-fp16-16k 150 python benchmarks/vendor.py attention-grad --dtype float16 \
            --set "__main__.ATTENTION_SHAPES=[(1, 16384)]"
        step fwd-fp16 250 python benchmarks/vendor.py attention --dtype float16 ;;
    unmasked)
        # The attention forward's unmasked key blocks in a loop of their own (no masks,
        # the scale in one FMA; 2026-12-03d, not yet on a GPU): tests compiled, then the
        # bf16 and fp16 tables against SDPA.
        step unmasked-tests 180 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_attention.py tests/test_ops.py -k "attention and not grad"
        step unmasked-bf16 120 python benchmarks/vendor.py attention --dtype bfloat16
        step unmasked-fp16 150 python benchmarks/vendor.py attention --dtype float16 ;;
    split-16bit)
        # Split rows are unforced for 4-byte elements only (2026-12-03d: 16-bit softmax
        # split ran 57-59% of a copy, looped 61-65%): the sweep with 16-bit rows split,
        # in larger slices (fewer programs to wait for) or fuller threads.
        step split-16bit 120 python benchmarks/tune_rowwise.py split-softmax split-add_row_sum ;;
    split-v2)
        # After split-rows (2026-12-03d call 2: 79-86% of a copy in float32, float16
        # softmax below the looped kernel), call 3 ran it on the spin on plain reads and
        # one exp an element (3feb3d4, rejected: 23-45%); then the attention forward's
        # unmasked blocks and the batched-TMA table. It now runs the split kernels shipped.
        step split-tests 100 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_row_plans.py tests/test_ops.py \
            -k "row_plans or ((softmax or add_row_sum) and not grad)"
        step split-sweep 80 python benchmarks/tune_rowwise.py split-softmax split-add_row_sum
        step unmasked-tests 170 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_attention.py tests/test_ops.py -k "attention and not grad"
        step unmasked-bf16 100 python benchmarks/vendor.py attention --dtype bfloat16
        step batched-table 90 python benchmarks/vendor.py matmul --dtype bfloat16 --dtype float16
        step unmasked-fp16 100 python benchmarks/vendor.py attention --dtype float16 ;;
    batched-default)
        # Batched 16-bit GEMMs through TMA unforced (2026-12-03d): the 16-bit table.
        step batched-table 110 python benchmarks/vendor.py matmul --dtype bfloat16 --dtype float16 ;;
    rows-out)
        # Issue 13 (2026-12-04, thirteenth session): 1 x 1 rows whose tiles leave through
        # a descriptor of out (OUT_DESCRIPTOR; offline sm_90 the NCHW persistent config went
        # from 255 registers and 7.4 KB of spills to 102 and none). Tests compiled, the
        # tuner's timings per rows config (old and -o1) on both 1 x 1 shapes and layouts,
        # the whole calls against cuDNN in both 16-bit dtypes, then the float16 7 x 7 depthwise
        # rows not yet measured (stride 2, 96 channels).
        step rows-out-tests 100 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_conv2d.py tests/test_ops.py -k "leave_through or \
            nchw_rows or tma_designs or replay or (conv2d and rows)"
        step rows-out-tma 80 python benchmarks/vendor.py conv2d-tma --dtype float16 \
            --set "__main__.CONV_SHAPES=[(32, 256, 56, 64, 1, 1, 0, 1), (32, 64, 56, 256, 1, 1, 0, 1)]"
        for dtype in float16 bfloat16; do
            step "rows-out-cold-$dtype" 60 python benchmarks/vendor.py conv2d-cold --dtype "$dtype" \
                --set "__main__.CONV_SHAPES=[(32, 256, 56, 64, 1, 1, 0, 1), \
                (32, 64, 56, 256, 1, 1, 0, 1)]"
        done
        step dw-rest-f16 170 python benchmarks/vendor.py depthwise --dtype float16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 256, 56, 7, 2), (32, 96, 56, 7, 1)]" ;;
    rows-final)
        # Issue 13 (thirteenth session): the rows table as shipped (descriptor stores only):
        # every test of tests/test_conv2d.py and conv2d's rows configs compiled, then
        # those depthwise rows with the time their tuning takes (rows-out's 170 s cut
        # the first shape while compiling).
        step rows-final-tests 150 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_conv2d.py tests/test_ops.py -k "test_conv2d or \
            (conv2d and rows)"
        step dw-rest-f16 320 python benchmarks/vendor.py depthwise --dtype float16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 256, 56, 7, 2), (32, 96, 56, 7, 1)]" ;;
    s13-close)
        # The thirteenth session's last call: the row-wise ops' host cost against .base/
        # (8a75f14) three rounds more; the rows' descriptor stores under memcheck and
        # poisoned (conv_replay_check on the 1 x 1 shapes); the 96-channel 7 x 7 row.
        host_rounds 3 40
        step rows-memcheck 100 python -m pytest -n 4 -q -p no:cacheprovider \
            --triton-mode=gpu --memcheck tests/test_conv2d.py -k "leave_through or nchw_rows"
        step rows-replay-check 60 python -c "import benchmarks.conv_replay_check as check; \
            check.SHAPES = [(32, 256, 56, 64, 1, 1, 1), (32, 64, 56, 256, 1, 1, 1)]; check.main()"
        step dw-96 200 python benchmarks/vendor.py depthwise --dtype float16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 96, 56, 7, 1)]" ;;
    dw-halo)
        # Issue 13: 7 x 7's halo (3 columns a side) loaded as aligned vectors, not column
        # by column: on 7 x 7 stride 2, ncu had the L1 74% busy at 0.62 warps issued a
        # scheduler (2026-12-04f call 2). .base/ is the tree before, carried.
        step dw-halo-tests 120 python -m pytest -n 8 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_conv2d.py -k "plane or depthwise or narrowed"
        designs="--design conv2d/plane-8x64x8-r2-t7-w1-s1/gpu \
            --design conv2d/plane-16x32x4-r4-t4-w1-s1/gpu \
            --design conv2d/plane-8x32x4-r2-t7-w1-s1/gpu"
        for tree in base new; do
            # shellcheck disable=SC2086
            (if [ $tree = base ]; then cd .base; fi; PYTHONPATH=. step "dw-halo-$tree" 150 \
                python benchmarks/depthwise_probe.py --time --shape 32,256,56,7,1 \
                --shape 32,256,56,7,2 $designs)
        done
        step dw-halo-ncu 60 ncu --section SpeedOfLight --section SchedulerStats \
            --section MemoryWorkloadAnalysis -k regex:depthwise -c 1 \
            python benchmarks/depthwise_probe.py --shape 32,256,56,7,2 \
            --design conv2d/plane-16x32x4-r4-t4-w1-s1/gpu ;;
    s15-tuning)
        # harness.autotune.precompile (fourteenth session, offline only): compiled
        # tests, then benchmarks/tuning_time.py (each first call in a fresh Triton cache).
        step s15-autotune-tests 120 python -m pytest -n 8 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_autotune.py
        step s15-tuning-time 330 python benchmarks/tuning_time.py --shape 8,64,56,7,1
        step s15-plane-tests 120 python -m pytest -n 8 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_conv2d.py -k "walking or narrowed" ;;
    s15-dw-rows)
        # After the 7 x 7 halo in vectors (timed in part) and every row stored as one
        # vector (untimed): each dtype's whole depthwise table, tuned with precompile.
        step s15-dw-f16 280 python benchmarks/vendor.py depthwise --dtype float16
        step s15-dw-bf16 280 python benchmarks/vendor.py depthwise --dtype bfloat16 ;;
    s15-dw-rest)
        # The rows s15-dw-rows had no time left for (each 7 x 7 shape tunes for ~50 s a
        # layout with precompile on 16 threads); bfloat16's 96 channels were never timed.
        step s15-dw-bf16-rest 250 python benchmarks/vendor.py depthwise --dtype bfloat16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 96, 56, 7, 1), (32, 256, 56, 7, 2)]"
        step s15-dw-f16-rest 290 python benchmarks/vendor.py depthwise --dtype float16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 256, 56, 7, 2), (32, 96, 56, 7, 1), (32, 512, 28, 3, 1)]" ;;
    s16-cl-filter)
        # Channels-last with one filter a thread (1 x 128 x 8 in 8 rows, fifteenth
        # session, offline: 166 registers against 255 and spills) forced beside the
        # tuner's earlier choices. 2026-12-05 call 2: 96.9 us against 116.8 on 7 x 7
        # stride 1 (the tensor-core configs then in this list ran out the step's time).
        step s16-cl-probe 300 python benchmarks/depthwise_probe.py --time \
            --shape 32,256,56,7,2 --shape 32,96,56,7,1 --shape 32,256,56,3,1 \
            --design conv2d/depthwise-1x128x8-r8-w4-s1/gpu \
            --design conv2d/depthwise-8x128x4-r2-w4-s1/gpu \
            --design conv2d/depthwise-4x128x4-r3-w4-s1/gpu ;;
    s16-cl-rows)
        # The channels-last 7 x 7 rows as shipped (the tuner picks, one filter a thread
        # among its candidates).
        step s16-cl-rows 300 python benchmarks/vendor.py depthwise --dtype float16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 256, 56, 7, 1), (32, 256, 56, 7, 2)]" ;;
    s17-dw-rows)
        # 2026-12-05 call 3 was cut after float16 7 x 7 stride 1 (each 7 x 7 shape
        # tunes for ~50 s a layout): the rest of the 7 x 7 rows with one filter a thread
        # among channels-last's candidates.
        step s17-dw-f16 230 python benchmarks/vendor.py depthwise --dtype float16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 256, 56, 7, 2), (32, 96, 56, 7, 1)]"
        step s17-dw-bf16 120 python benchmarks/vendor.py depthwise --dtype bfloat16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 256, 56, 7, 1)]" ;;
    s17-dw-ncu)
        # What binds the plane walks on 7 x 7 stride 1: the one issuing fewer
        # instructions (16 x 64 x 8 in 4 rows, 61 an output offline) is the slower.
        ncu_sections="--section SpeedOfLight --section SchedulerStats --section WarpStateStats \
            --section MemoryWorkloadAnalysis --section Occupancy"
        step s17-dw-ncu 100 ncu $ncu_sections -k regex:depthwise -c 2 \
            python benchmarks/depthwise_probe.py --shape 32,256,56,7,1 \
            --design conv2d/plane-8x64x8-r2-t7-w1-s1/gpu \
            --design conv2d/plane-16x64x8-r4-t4-w1-s1/gpu
        step s17-dw-s2 130 python benchmarks/vendor.py depthwise --dtype float16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 256, 56, 7, 2)]" ;;
    s18-dw-size)
        # Issue 13's rows against a copy moving the same bytes (vendor.py's of_size_copy,
        # the measure issue 10 calls the honest floor), beside the 2 GiB copy: the 7 x 7
        # rows get it in s17-dw-rows and s17-dw-ncu.
        step s18-dw-size 250 python benchmarks/vendor.py depthwise --dtype float16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 256, 56, 3, 1), (32, 256, 56, 3, 2), (32, 512, 28, 3, 1)]" ;;
    s22-dw-size-bf16)
        # s18-dw-size in bfloat16 (2026-12-05c, H100: float16 82-88% of a same-size copy).
        step s22-dw-size-bf16 250 python benchmarks/vendor.py depthwise --dtype bfloat16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 256, 56, 3, 1), (32, 256, 56, 3, 2), (32, 512, 28, 3, 1)]" ;;
    s19-host-depths)
        # Host timings now give their calls headroom on CPython's frame stack
        # (harness/stack.py): offline, 7 of 200 call depths made a replayed vector_add
        # map and unmap a frame chunk a call, 2.8 -> 26 us. Whether the machine's Python
        # does (3.11 to 3.13 before the fix) is first: the header line says its version.
        step s19-host-depths 240 python benchmarks/host_cost.py vector_add softmax layer_norm \
            --rounds 7 --depths 200 ;;
    s19-rows-bench)
        # Targets 1-3 measured the official way since row_sums (the walker sweep of
        # 2026-12-05b call 1 gave layer_norm_backward at 4096 x 16384 1.94x / 1.76x).
        step s19-rows-bench 240 python -m harness bench vector_add scale add_row_sum softmax \
            layer_norm layer_norm_backward --out "$OUT/bench-rows" --no-plots ;;
    s20-walkers)
        # The walker design in the row plans (kernels._rows.WALKER_MAX_ROW_BYTES): softmax's and
        # add_row_sum's tests compiled (every config, the walker's forced), then the sweep
        # (since 65c9877 each op's default against its WALK_LONG_ROWS flipped, warps,
        # stages and walkers an SM, on rows past WHOLE_ROW_MAX; s21-walk-rows runs it too).
        step s20-walker-tests 150 python -m pytest -n 8 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_ops.py tests/test_row_plans.py -k "softmax or add_row_sum or walker"
        step s20-walker-sweep 240 python benchmarks/tune_rowwise.py walker-softmax walker-add_row_sum ;;
    s21-walk-rows)
        # add_row_sum's long 16-bit rows walked (WALK_LONG_ROWS, WALKER_MAX_WARPS = 16, after
        # s20-walkers on an H100): tests compiled, the sweep, the op's benchmark table.
        step s21-walk-tests 100 python -m pytest -n 8 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_ops.py tests/test_row_plans.py -k "softmax or add_row_sum or walk"
        step s21-walk-sweep 90 python benchmarks/tune_rowwise.py walker-add_row_sum walker-softmax
        step s21-walk-bench 90 python -m harness bench add_row_sum --out "$OUT/bench-ars" --no-plots ;;
    s23-bwd-sweep)
        # layer_norm_backward's knobs (tune_rowwise.py bwd) where it misses 85% of a
        # same-size copy (2026-12-05c, H100: 77% at 4096 x 4096 16-bit, 78-84% at 1024).
        step s23-bwd-sweep 200 python benchmarks/tune_rowwise.py bwd ;;
    s23-conv-table)
        # Issue 13's table on this tree: every CONV_SHAPES row (3 x 3 and 1 x 1) whole calls
        # against cuDNN, both layouts, both 16-bit dtypes.
        for dtype in float16 bfloat16; do
            step "s23-conv-$dtype" 120 python benchmarks/vendor.py conv2d-cold --dtype "$dtype"
        done ;;
    s24-bwd-replay)
        # layer_norm_backward replayed (6314662, offline only so far): its replay test and
        # the op's tests compiled, its host cost against PyTorch's, and its table.
        step s24-bwd-tests 120 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_fast_launch.py tests/test_ops.py tests/test_layer_norm_module.py \
            -k "layer_norm or replayed_op"
        step s24-bwd-host 60 python benchmarks/host_cost.py layer_norm_backward layer_norm --rounds 7
        step s24-bwd-bench 90 python -m harness bench layer_norm_backward --out "$OUT/bench-bwd" \
            --no-plots ;;
    s24-rows-ncu)
        # Where issue 10's misses spend their time: softmax's long rows and
        # layer_norm_backward's one-pass tiles (benchmarks/rows_probe.py) under ncu.
        step s24-rows-ncu 150 ncu --profile-from-start off --nvtx --section SpeedOfLight \
            --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
            --section WarpStateStats --section SchedulerStats python benchmarks/rows_probe.py ;;
    s26-split-replay)
        # Split rows replayed (their counters zeroed by a launch of ours): the replay
        # tests compiled, the float32 tables' host column (76-83 us a call at 1024 x 65536
        # before, 2026-12-05f), and where each multi-launch call's device time goes.
        step s26-split-tests 100 python -m pytest -n 8 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_fast_launch.py tests/test_row_plans.py \
            tests/test_ops.py -k "replayed_op or split or softmax or add_row_sum"
        step s26-split-bench 90 python -m harness bench softmax add_row_sum --dtype float32 \
            --out "$OUT/bench-f32" --no-plots
        step s26-timeline 60 python benchmarks/rows_timeline.py ;;
    s27-early-sums)
        # layer_norm_backward's stage two launched early (BWD_EARLY_SUMS, programmatic
        # dependent launch): tests compiled, each value's timeline, the table. Run at
        # 9040c73 (2026-12-05f, H100), where 2 also had stage one trigger stage two's
        # launch at its start: no faster than 1, which launched it early alone (removed).
        step s27-early-tests 120 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_fast_launch.py tests/test_ops.py tests/test_layer_norm_module.py \
            -k "layer_norm or replayed_op"
        step s27-early-timeline 90 python benchmarks/rows_timeline.py --early-sums 0 1
        step s27-early-bench 90 python -m harness bench layer_norm_backward \
            --out "$OUT/bench-bwd" --no-plots ;;
    s30-graphs)
        # Every replayed public launcher captured in a CUDA graph against its eager call
        # (layer_norm_backward's early stage two as a programmatic edge), and the replays.
        step s30-graphs 120 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_fast_launch.py -k "cuda_graph or replayed_op" ;;
    s31-timeline)
        # `python -m harness bench --timeline` on a GPU for the first time: the multi-launch
        # ops' launches, each kernel and gap (conv2d's NCHW copies, layer_norm_backward's
        # stages, split rows' zeroing), beside rows_timeline.py's figures (2026-12-05f).
        step s31-timeline 200 python -m harness bench layer_norm_backward softmax conv2d \
            --dtype float16 --dtype float32 --timeline 20 --no-plots --out "$OUT/bench-timeline" ;;
    s32-rms-norm)
        # kernels/rms_norm.py (LayerNorm's kernels given no mean pointer): its tests compiled,
        # every config forced, the module against nn.RMSNorm; then the bench beside
        # layer_norm's, each against PyTorch (F.rms_norm) and a same-size copy.
        step s32-rms-tests 150 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_ops.py tests/test_rms_norm_module.py -k "rms_norm or test_state_dict or test_function"
        step s32-rms-bench 240 python -m harness bench rms_norm rms_norm_backward layer_norm \
            layer_norm_backward --out "$OUT/bench-rms" --no-plots ;;
    s29-conv-early-ab)
        # The early launch against launches in order, alternating in one process, three
        # rounds (2026-12-06-h100 call 2: 0.7-1.9 us less a call, dirty and clean, on every
        # 3 x 3 row; the 114 us row of 2026-12-05f call 9 did not come back).
        step s29-conv-early-ab 150 python benchmarks/conv_early_probe.py --rounds 3 ;;
    s33-loop-loads)
        # softmax's looped kernel on two loads an iteration (LOOP_LOADS, 32 warps; 83% of a
        # same-size copy at 1024 x 65536 float16 on the branch, H100): its tests compiled,
        # the flight sweep (4096 x 40000, where the branch's masked last iteration lost),
        # the op's table.
        step s33-loads-tests 100 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_ops.py tests/test_row_plans.py -k "softmax or looped"
        step s33-loads-sweep 90 python benchmarks/tune_rowwise.py flight-softmax
        step s33-loads-bench 90 python -m harness bench softmax --out "$OUT/bench-softmax" \
            --no-plots ;;
    s34-torch-bench)
        # Op.torch_bench (the PyTorch column as a user runs the op): test_torch_bench
        # compiled (cuDNN, aten._fused_rms_norm and its backward, tf32 cuBLAS computing the
        # op), then rms_norm's and conv2d's tables against them.
        step s34-tb-tests 100 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_ops.py tests/test_harness.py -k "torch_bench"
        step s34-tb-rms 120 python -m harness bench rms_norm rms_norm_backward \
            --out "$OUT/bench-rms-tb" --no-plots
        step s34-tb-conv 300 python -m harness bench conv2d --dtype float16 \
            --out "$OUT/bench-conv-tb" --no-plots ;;
    s35-ln-mean)
        # layer_norm's row mean (H100, 2026-12-06c): the Newton step (main since 0044f3a)
        # against div_rn and the approximate `/`, timed, and the rows of equal values
        # whose mean comes out off.
        step s35-ln-mean 120 python benchmarks/ln_mean_probe.py --rounds 3 ;;
    s36-tunings)
        # Replays keyed on `_plans.tunings()` (a3c65d0): the row-wise ops' differential
        # and config tests compiled (not yet run on it: the 2026-12-06c budget ran out),
        # then issue 10's host cost (2026-12-06c call 5: softmax 1.41-1.46x PyTorch).
        step s36-rows-tests 200 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_ops.py -k \
            "softmax or add_row_sum or layer_norm or rms_norm or vector_add or scale"
        step s36-host 90 python benchmarks/host_cost.py vector_add softmax add_row_sum \
            layer_norm layer_norm_backward --rounds 7 ;;
    s37-checks)
        # 2026-12-06d: the bench's checks took 428 s of 64 cases on an H100, two of them
        # 150 s past the rest, unnamed; attention's 16384-row oracles took 44-63 s each
        # offline, the non-causal ones 0.2-0.5 s since 4912d0b.
        step s37-bench-attention 300 python -m harness bench attention --check-workers 12 \
            --no-plots --out "$OUT/bench-attention"
        site="$(old_numpy)"
        PYTHONPATH="$site" step s37-parity 240 "${PARITY[@]}" \
            -k "layer_norm or rms_norm or attention or test_parity" ;;
    s38-ln)
        # e4e1b35 (a row holding +inf has mean +inf) compiled: LayerNorm's tests, then
        # ln_mean_probe.py: with the corrected mean after it, is _row_mean's Newton step
        # still needed on a GPU's approximate division (rows off, time)? 2026-12-06f call
        # 1: no (its "div" then is the kernel's own since 34b925f, "newton" swapped in).
        step s38-ln-tests 120 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_layer_norm_module.py tests/test_ops.py -k layer_norm
        step s38-ln-mean 150 python benchmarks/ln_mean_probe.py --rounds 2
        if [ -d .alt ]; then  # a tree to compare (git archive BRANCH | tar -x -C .alt)
            (cd .alt && PYTHONPATH=. step s38-ln-tests-alt 120 python -m pytest -n 8 -q \
                -p no:cacheprovider --triton-mode=gpu tests/test_layer_norm_module.py \
                tests/test_ops.py -k layer_norm)
        fi ;;
    s39-ieee-spans)
        # matmul's float32 ieee K loop in spans (2-4% slower than one running sum, H100,
        # 2026-12-07d) and its declared order (harness.Spans: the kernel tier's bound is
        # about 2,000 u on 2**22-term dots): matmul's tests compiled, the long-K
        # errors, then the ieee candidates with spans (did 64 x 64 x 64 stay the best?).
        step s39-ieee-tests 200 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_matmul.py tests/test_ops.py -k matmul
        step s39-long-k 200 python benchmarks/long_k_probe.py
        step s39-ieee-sweep 200 python benchmarks/vendor.py --sweep matmul-ieee ;;
    s40-dropout)
        # dropout's mask is a function of its seed, the same bits on the GPU as in the
        # interpreter (harness.philox): checked compiled, then timed against F.dropout.
        step s40-dropout-tests 150 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_philox.py tests/test_dropout.py tests/test_exact_outputs.py \
            tests/test_ops.py tests/test_planted_bugs.py tests/test_outside_kernels.py \
            -k "philox or dropout or twin or uniform or exact or argmax"
        step s40-dropout-bench 120 python benchmarks/dropout_probe.py ;;
    s41-cross-entropy)
        step s41-ce-tests 150 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_ops.py tests/test_cross_entropy.py tests/test_planted_bugs.py \
            -k cross_entropy
        step s41-ce-probe 150 python benchmarks/cross_entropy_probe.py
        step s41-ce-bench 100 python -m harness bench cross_entropy --out "$OUT/bench-ce" \
            --no-plots ;;
    s42-ce-followup)
        # cross_entropy's forward designs forced (whole rows, looped in blocks of 4096 to
        # 16384) against a copy, for the 16-bit forward's 56-58% of its floor at 32000 and
        # 50257 classes (H100, 2026-12-07f); then its host cost since one reduce launch.
        step s42-ce-designs 200 python benchmarks/cross_entropy_probe.py --designs
        step s42-ce-host 120 python benchmarks/host_cost.py cross_entropy softmax --rounds 5 ;;
    s43-ce-aligned)
        # cross_entropy's streamed forward read from each row's 16-byte boundary, its middle
        # blocks unmasked (vector loads at any C), in blocks of 4096, whole rows to 8192:
        # compiled tests, every design forced in both dtypes, the same before the change
        # (.alt, a tree to compare: git archive REV | tar -x -C .alt), then against
        # F.cross_entropy, the host cost (the replayed launchers) and the bench rows.
        step s43-ce-tests 150 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_ops.py tests/test_cross_entropy.py tests/test_planted_bugs.py \
            -k cross_entropy
        step s43-ce-designs 150 python benchmarks/cross_entropy_probe.py --designs
        if [ -d .alt ]; then
            (cd .alt && PYTHONPATH=. step s43-ce-designs-alt 60 python \
                benchmarks/cross_entropy_probe.py --designs)
        fi
        step s43-ce-probe 120 python benchmarks/cross_entropy_probe.py
        step s43-ce-host 60 python benchmarks/host_cost.py cross_entropy softmax --rounds 5
        step s43-ce-bench 100 python -m harness bench cross_entropy --out "$OUT/bench-ce" \
            --no-plots ;;
    s44-ce-2048)
        # cross_entropy's streamed forward in blocks of 2048 (the best of 2048-8192 in both
        # dtypes at every vocabulary, s43) and its backward aligned as the forward: tests
        # compiled, the probe, the bench rows; then softmax's tests compiled (its looped
        # pass 1 takes the one-exp online max-and-sum too).
        step s44-ce-probe 120 python benchmarks/cross_entropy_probe.py
        step s44-ce-tests 150 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_ops.py tests/test_cross_entropy.py tests/test_planted_bugs.py \
            -k cross_entropy
        step s44-ce-bench 100 python -m harness bench cross_entropy --out "$OUT/bench-ce" \
            --no-plots
        step s44-softmax-tests 150 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_ops.py tests/test_parts.py tests/test_large_shapes.py \
            -k softmax
        # softmax's looped 16-bit rows with the one-exp update (c1e192c), against the tree
        # before it in .alt (git archive 36f29db | tar -x -C .alt), same call: earlier
        # designs with one exp an element ran slower (rows_and_launch_tuning.md).
        step s44-softmax-floor 60 python benchmarks/two_pass_floor.py
        if [ -d .alt ]; then
            (cd .alt && PYTHONPATH=. step s44-softmax-floor-alt 60 python \
                benchmarks/two_pass_floor.py)
        fi ;;
    s45-ce-weights)
        step s45-ce-tests 150 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_ops.py tests/test_cross_entropy.py tests/test_planted_bugs.py \
            -k cross_entropy
        step s45-softmax-tests 120 python -m pytest -n 12 -q -p no:cacheprovider \
            --triton-mode=gpu tests/test_ops.py tests/test_parts.py tests/test_large_shapes.py \
            -k softmax
        step s45-ce-probe 100 python benchmarks/cross_entropy_probe.py
        step s45-ce-probe-weighted 80 python benchmarks/cross_entropy_probe.py --weighted
        step s45-ce-probe-soft 80 python benchmarks/cross_entropy_probe.py --soft ;;
    s46-ce-short)
        step s46-ce-tests 150 python -m pytest -n 12 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_ops.py tests/test_cross_entropy.py -k cross_entropy
        step s46-ce-probe-soft 80 python benchmarks/cross_entropy_probe.py --soft ;;
    s21-rows-1x1)
        # Issue 13's NCHW 1 x 1 rows (1.05-1.16x cuDNN, 60-77% of a copy): the rows design's
        # candidates (vendor.py CANDIDATES["conv2d-rows"]: 64-256 filters a tile, 1-4
        # programs an SM) timed by the tuner on both 1 x 1 shapes, layouts and 16-bit dtypes.
        step s21-rows-1x1 200 python benchmarks/vendor.py --sweep conv2d-rows ;;
    dw-ncu-rest)
        # Issue 13: where the time goes on 7 x 7 stride 2 (30-33% of a copy; its FMAs allow
        # ~100%) and on 28 x 28 planes (50-59%), with the configs the tuner chose there.
        ncu_sections="--section SpeedOfLight --section SchedulerStats --section WarpStateStats \
            --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats"
        step dw-ncu-s2 60 ncu $ncu_sections -k regex:depthwise -c 2 \
            python benchmarks/depthwise_probe.py --shape 32,256,56,7,2 \
            --design conv2d/plane-16x32x4-r4-t4-w1-s1/gpu \
            --design conv2d/depthwise-4x128x4-r3-w4-s1/gpu
        step dw-ncu-28 60 ncu $ncu_sections -k regex:depthwise -c 2 \
            python benchmarks/depthwise_probe.py --shape 32,512,28,3,1 \
            --design conv2d/plane-32x32x4-r8-t2-w1-s1/gpu \
            --design conv2d/depthwise-8x64x8-r2-w4-s1/gpu
        step dw-probe-time 40 python benchmarks/depthwise_probe.py --time \
            --shape 32,256,56,7,2 --shape 32,512,28,3,1 \
            --design conv2d/plane-16x32x4-r4-t4-w1-s1/gpu \
            --design conv2d/plane-32x32x4-r8-t2-w1-s1/gpu \
            --design conv2d/plane-8x32x4-r2-t7-w1-s1/gpu ;;
    dw-bf16-rest)
        # Issue 13: the two bfloat16 depthwise rows not yet measured (thirteenth session):
        # 7 x 7 at stride 2 and 96 channels at 7 x 7; each 7 x 7 shape tunes for 130-160 s.
        step dw-bf16-rest 400 python benchmarks/vendor.py depthwise --dtype bfloat16 \
            --set "__main__.DEPTHWISE_SHAPES=[(32, 256, 56, 7, 2), (32, 96, 56, 7, 1)]" ;;
    ln-bwd)
        # layer_norm's backward constants were all measured on the H100; N = 16384 ran
        # 1.51-1.59x PyTorch on the H200 (target 1.8), 1.61-1.75x on 8 walker warps
        # (2026-12-03c): warps and walkers per SM swept there. Since then the walker's
        # two row sums are one reduction (seventeenth session, untimed: 3 barriers a row
        # where there were 12, float32 no longer spills): compiled correctness first (the
        # interpreter alone has run `row_sums`), then the same sweep again.
        step ln-bwd-tests 150 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu \
            tests/test_ops.py tests/test_parts.py tests/test_large_shapes.py -k layer_norm
        step ln-bwd-walkers 200 python benchmarks/tune_rowwise.py bwd-walkers ;;
    *) echo "unknown step $name" ;;
    esac
done
echo "=== summary"
printf '%s\n' "${SUMMARY[@]}"
if [ -s "$HARNESS_CASE_LOG" ]; then  # every case the steps ran, summed by test
    python -m harness cases "$HARNESS_CASE_LOG" --slowest 10 >"$OUT/cases-summary.txt" 2>&1
    cat "$OUT/cases-summary.txt"
fi
