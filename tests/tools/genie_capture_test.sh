#!/usr/bin/env bash
# genie-capture as a user runs it on real models: outputs that check out, exit codes
# (docs/exit-codes.md), one-line errors, no partial files.
#   usage: genie_capture_test.sh GENIE_CAPTURE GENIE_GRAPH MODELS_DIR OUT_DIR
set -u
capture=$1 graph_tool=$2 models=$3 out=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0 passed=0

check() {  # check DESCRIPTION COMMAND...: the command must succeed
  local what=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then passed=$((passed + 1)); else
    echo "FAIL: $what"; sed 's/^/  | /' "$work/check.out"; failures=$((failures + 1)); fi
}

expect() {  # expect CODE PATTERN -- ARGS...
  local code=$1 pattern=$2
  shift 3
  "$capture" "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$?
  if [[ $rc != "$code" ]] || ! grep -qE -- "$pattern" "$work/stderr"; then
    echo "FAIL: genie-capture $* -> exit $rc (want $code):"; sed 's/^/  | /' "$work/stderr"
    failures=$((failures + 1))
  elif [[ $code != 0 && $(wc -l <"$work/stderr") -ne 1 ]]; then
    echo "FAIL: genie-capture $*: error must be one line:"; sed 's/^/  | /' "$work/stderr"
    failures=$((failures + 1))
  else
    passed=$((passed + 1))
  fi
}

# Real models: the graph and weights written, the weights hold every parameter.
expect 0 "genie-capture: 69 nodes, 122 stored tensors" -- "$models/resnet18.traced.pt" --input 1x3x224x224 -o "$work/r18.json"
check "resnet18 graph and weights agree" "$graph_tool" "$work/r18.json" --weights "$work/r18.safetensors"
cp "$work/r18.json" "$out/resnet18.genie-capture.json"
expect 0 "nodes" -- "$models/bert.traced.pt" --input 1x16:int64 --input 1x16:int64 -o "$work/bert.json" --weights "$work/bert.w"
check "bert graph and weights agree" "$graph_tool" "$work/bert.json" --weights "$work/bert.w"
cp "$work/bert.json" "$out/bert.genie-capture.json"
# Optional inputs take their defaults; stdout composes with genie-graph.
"$capture" "$models/transformer_encoder.scripted.pt" --input 2x16x64 -o - --weights "$work/te.safetensors" 2>/dev/null \
  | "$graph_tool" - >"$work/te.txt" 2>&1
check "stdout pipes into genie-graph" grep -q "valid genie.graph" "$work/te.txt"
# The same model and inputs give the same bytes.
"$capture" "$models/resnet18.traced.pt" --input 1x3x224x224 -o "$work/r18b.json" 2>/dev/null
check "capture is deterministic" cmp "$work/r18.json" "$work/r18b.json"
check "weights are deterministic" cmp "$work/r18.safetensors" "$work/r18b.safetensors"

# A pipe or device as the output (-o /dev/null, a FIFO) is written in place, not replaced by
# a renamed file; its weights must be named.
mkfifo "$work/fifo"
# (timeout: should the capture fail before it opens the FIFO, the reader would wait forever)
timeout 300 cat "$work/fifo" >"$work/from-fifo.json" &
reader=$!
expect 0 "nodes" -- "$models/resnet18.traced.pt" --input 1x3x224x224 -o "$work/fifo" --weights "$work/fifo.st"
wait $reader
check "a FIFO output stays a FIFO" test -p "$work/fifo"
check "the graph came through the FIFO" cmp "$work/r18.json" "$work/from-fifo.json"
expect 2 "fifo is not a regular file, say where the weights go: --weights FILE" -- "$models/resnet18.traced.pt" \
  --input 1x3x224x224 -o "$work/fifo"
rm -f "$work/fifo" "$work/fifo.st" "$work/from-fifo.json"

# Errors.
expect 2 "genie-capture: .*output is required" -- "$models/resnet18.traced.pt"
expect 2 'input spec "1x3xz": "z" is not a size' -- "$models/resnet18.traced.pt" --input 1x3xz -o "$work/x.json"
expect 2 "the model takes 1 input \(x\), 2 given" -- "$models/resnet18.traced.pt" --input 1x3 --input 1 -o "$work/x.json"
expect 2 "the model takes 2 inputs" -- "$models/bert.traced.pt" -o "$work/x.json"
expect 2 "with -o - \(stdout\), say where the weights go" -- "$models/resnet18.traced.pt" --input 1x3x224x224 -o -
expect 2 'the model has no method "encode"' -- "$models/resnet18.traced.pt" --method encode --input 1 -o "$work/x.json"
expect 3 "/nonexistent.pt: cannot open" -- /nonexistent.pt --input 1 -o "$work/x.json"
expect 1 "not a model file" -- "$work/r18.json" --input 1 -o "$work/x.json"
head -c 4096 "$models/resnet18.traced.pt" >"$work/truncated.pt"
expect 1 "truncated.pt: not a readable model archive \(TorchScript or .pt2\): PytorchStreamReader failed reading zip archive: failed finding central directory$" -- "$work/truncated.pt" --input 1 -o "$work/x.json"
expect 5 "the model failed on the given inputs: .*" -- "$models/resnet18.traced.pt" --input 1x5x8x8 -o "$work/x.json"
expect 3 "cannot create" -- "$models/resnet18.traced.pt" --input 1x3x224x224 -o /nonexistent-dir/x.json --weights "$work/y.st"
if ls "$work" | grep -qE '^(x\.|y\.st)|\.tmp\.'; then echo "FAIL: partial output left: $(ls "$work")"; failures=$((failures + 1)); fi

echo "genie-capture: $passed passed, $failures failed"
[[ $failures == 0 ]]
