#!/usr/bin/env bash
# genie-run as a user runs it on the real models: every model checks out against its
# TorchScript original with and without optimisations; outputs and summaries written; exit
# codes (docs/exit-codes.md) and one-line errors.
#   usage: genie_run_test.sh GENIE_RUN GENIE_CAPTURE PYTHON MODELS_DIR OUT_DIR
set -u
run=$1 capture=$2 python=$3 models=$4 out=$5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0 passed=0

check() {  # check DESCRIPTION COMMAND...: the command must succeed
  local what=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then passed=$((passed + 1)); else
    echo "FAIL: $what"; sed 's/^/  | /' "$work/check.out"; failures=$((failures + 1)); fi
}

expect() {  # expect CODE PATTERN -- ARGS...: exit code, and PATTERN in stderr (errors) or stdout
  local code=$1 pattern=$2
  shift 3
  "$run" "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$?
  if [[ $rc != "$code" ]] || ! grep -qE -- "$pattern" "$work/stderr" "$work/stdout"; then
    echo "FAIL: genie-run $* -> exit $rc (want $code, /$pattern/):"; sed 's/^/  | /' "$work/stderr" "$work/stdout"
    failures=$((failures + 1))
  elif [[ $code != 0 && $(wc -l <"$work/stderr") -ne 1 ]]; then
    echo "FAIL: genie-run $*: error must be one line:"; sed 's/^/  | /' "$work/stderr"
    failures=$((failures + 1))
  else
    passed=$((passed + 1))
  fi
}

# Every real model, traced and scripted, captured and checked on the CPU: optimised (batch-norm
# folding, dead nodes dropped) and exactly as captured.
for model in "$models"/*.pt; do
  name=$(basename "$model" .pt)
  base=${name%%.*}
  specs=$("$python" -c "import json,sys; print(' '.join('--input ' + s for s in json.load(open(sys.argv[1]))[sys.argv[2]]['inputs']))" \
    "$models/manifest.json" "$base" 2>/dev/null) || continue
  # shellcheck disable=SC2086
  "$capture" "$model" $specs -o "$work/$name.json" 2>/dev/null || { echo "FAIL: capture $name"; failures=$((failures + 1)); continue; }
  expect 0 "check against .*: equal" -- "$work/$name.json" --check "$model" --threads 2
  expect 0 "check against .*: equal" -- "$work/$name.json" --check "$model" --no-optimize --seed 7
done

# Folding really happened where it can: resnet18's 20 convolutions each feed a batch-norm.
expect 0 '"folded_batch_norms": 20' -- "$work/resnet18.traced.json" --format json
"$run" "$work/resnet18.traced.json" --format json --check "$models/resnet18.traced.pt" -o "$work/r18.out.safetensors" \
  >"$out/genie-run.resnet18.json" 2>/dev/null
check "json summary parses, check ok" "$python" -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['check']['ok'] and r['outputs'][0]['type']=='1x1000:float32', r" "$out/genie-run.resnet18.json"
check "outputs written by name" "$python" -c "from safetensors.numpy import load_file; import sys; assert load_file(sys.argv[1])['output'].shape == (1, 1000)" "$work/r18.out.safetensors"

# Inputs by name from a file; the graph's output equals the model's on them (bert: two int64 inputs).
"$python" - "$work/bert.in.safetensors" <<'PY'
import sys, numpy as np
from safetensors.numpy import save_file
save_file({"input_ids": np.arange(16, dtype=np.int64).reshape(1, 16) % 50,
           "attention_mask": np.ones((1, 16), dtype=np.int64)}, sys.argv[1])
PY
expect 0 "check against .*: equal" -- "$work/bert.traced.json" --inputs "$work/bert.in.safetensors" --check "$models/bert.traced.pt"
# --bench reports ratios against both TorchScript paths.
expect 0 "ratio genie / TorchScript: [0-9.]+;  genie / frozen \+ optimized: [0-9.]+" -- \
  "$work/transformer_encoder.traced.json" --check "$models/transformer_encoder.traced.pt" --bench 3

# Errors.
expect 6 "outputs differ from .*resnet18.traced.pt beyond rtol" -- "$work/mobilenet_v2.traced.json" --check "$models/resnet18.traced.pt"
expect 2 "no usable CUDA GPU|has [0-9]+ CUDA device" -- "$work/resnet18.traced.json" --device cuda:7
expect 2 '"tpu" is not a device name' -- "$work/resnet18.traced.json" --device tpu
expect 2 "genie-run runs graphs on cpu or cuda:N, not on meta" -- "$work/resnet18.traced.json" --device meta
expect 2 "--bench times against the model: give --check" -- "$work/resnet18.traced.json" --bench 5
expect 2 "say where the weights are" -- - </dev/null
expect 3 "nowhere.safetensors: cannot open" -- "$work/resnet18.traced.json" --weights "$work/nowhere.safetensors"
expect 1 'no tensor named "input_ids" \(the graph.s input\); the file has: output' -- "$work/bert.traced.json" --inputs "$work/r18.out.safetensors"
"$python" - "$work/bert.bad.safetensors" <<'PY'
import sys, numpy as np
from safetensors.numpy import save_file
save_file({"input_ids": np.zeros((1, 8), dtype=np.int64), "attention_mask": np.ones((1, 16), dtype=np.int64)}, sys.argv[1])
PY
expect 1 'input "input_ids": the graph takes 1x16:int64, given 1x8:int64' -- "$work/bert.traced.json" --inputs "$work/bert.bad.safetensors"
expect 1 "weights .*resnet18|parameter" -- "$work/resnet18.traced.json" --weights "$work/mobilenet_v2.traced.safetensors"
sed 's/"aten::relu"/"aten::no_such_op"/' "$work/resnet18.traced.json" >"$work/unknown.json"
cp "$work/resnet18.traced.safetensors" "$work/unknown.safetensors"
expect 4 "LibTorch [0-9.]+ has no operator aten::no_such_op" -- "$work/unknown.json"
# Folding rounds differently from the model: with no tolerance at all that is a difference.
expect 6 "differ" -- "$work/resnet18.traced.json" --check "$models/resnet18.traced.pt" --rtol 0 --atol 0

echo "genie-run: $passed passed, $failures failed"
[[ $failures == 0 ]]
