export PYTHONPATH=.
nvidia-smi --query-gpu=name --format=csv,noheader
timeout 150 python -m pytest -n 8 -q -p no:cacheprovider --triton-mode=gpu tests/test_layer_norm_module.py tests/test_ops.py -k "layer_norm" > $OUT/tests.txt 2>&1; tail -3 $OUT/tests.txt
for c in '{"dtype": "float16", "op": "layer_norm.grad", "params": {"affine": "both", "constant_rows": true, "eps": 1e-05, "layout": "contiguous", "values": "wide"}, "seed": 0, "shape": [127, 65535]}' '{"dtype": "float16", "op": "layer_norm.grad", "params": {"affine": "bias", "constant_rows": true, "eps": 1e-06, "layout": "padded", "values": "wide"}, "seed": 29281, "shape": [509, 65537]}' '{"dtype": "float16", "op": "layer_norm.grad", "params": {"affine": "both", "constant_rows": true, "eps": 1e-06, "layout": "contiguous", "values": "wide"}, "seed": 1, "shape": [509, 65537]}'; do
  timeout 60 python -m harness repro --ops ops --mode gpu "$c" >> $OUT/repro.txt 2>&1; echo "repro exit $?"
done
grep -E "^(PASSED|FAILED)" $OUT/repro.txt
timeout 150 python -m harness bench layer_norm --gate --no-check --no-plots --out $OUT/bench-ln > $OUT/gate.txt 2>&1; echo "gate exit $?"; tail -25 $OUT/gate.txt
