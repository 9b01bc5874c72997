#!/usr/bin/env bash
# genie-capture on torch.export programs (.pt2) as a user runs it: the four real models
# captured without --input, checked by genie-graph and by genie-run against the program run
# eagerly, the same pattern matches as their TorchScript captures; --input against the
# program's shapes and dynamic ranges; archives it must refuse, each in one line with its
# documented exit code (docs/exit-codes.md) and no output left behind.
#   usage: genie_capture_pt2_test.sh GENIE_CAPTURE GENIE_GRAPH GENIE_RUN GENIE_PATTERNS PYTHON MODELS_DIR OUT_DIR
set -u
capture=$1 graph_tool=$2 run=$3 patterns=$4 python=$5 models=$6 out=$7
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source "$here/lib.sh"
expect() { expect_tool "$capture" "$@"; }

# (pattern, scope, node count) of every match: node ids differ between the two captures.
matches() { "$patterns" "$1" --format json 2>/dev/null | "$python" -c '
import json, sys
for m in json.load(sys.stdin)["matches"]: print(m["pattern"], m["scope"], len(m["nodes"]))' | sort; }

declare -A inputs=([resnet18]="--input 1x3x224x224" [mobilenet_v2]="--input 1x3x224x224"
                   [transformer_encoder]="--input 2x16x64" [bert]="--input 1x16:int64 --input 1x16:int64")
for m in resnet18 mobilenet_v2 transformer_encoder bert; do
  expect 0 "genie-capture: [0-9]+ nodes, [0-9]+ stored tensors" -- "$models/$m.pt2" -o "$work/$m.json"
  check "$m: graph and weights agree" "$graph_tool" "$work/$m.json" --weights "$work/$m.safetensors"
  check "$m: replay equals the program run eagerly" "$run" "$work/$m.json" --check "$models/$m.pt2"
  check "$m: replay equals the traced TorchScript model" "$run" "$work/$m.json" --check "$models/$m.traced.pt"
  # shellcheck disable=SC2086
  check "$m: the TorchScript capture to compare with" "$capture" "$models/$m.traced.pt" ${inputs[$m]} -o "$work/$m.ts.json"
  matches "$work/$m.json" >"$work/$m.matches"
  matches "$work/$m.ts.json" >"$work/$m.ts.matches"
  check "$m: patterns find matches" test -s "$work/$m.matches"
  check "$m: the same matches as the TorchScript capture" diff "$work/$m.ts.matches" "$work/$m.matches"
  cp "$work/$m.json" "$out/$m.pt2-capture.json"  # for the schema tests
done
"$capture" "$models/resnet18.pt2" -o "$work/r18b.json" 2>/dev/null
check "capture is deterministic" cmp "$work/resnet18.json" "$work/r18b.json"
check "the graph says where it came from" grep -q '"source_format": "torch.export"' "$work/resnet18.json"

# --input: optional, and held to the program's shapes; a dynamic dimension within its range.
expect 0 "nodes" -- "$models/resnet18.pt2" --input 1x3x224x224 -o "$work/given.json"
expect 0 "nodes" -- "$models/resnet18.dynamic.pt2" --input 5x3x224x224 -o "$work/dyn.json"
check "a dynamic dimension is recorded" grep -q '"dynamic_dims": {"x": {"0": {"max": 64, "min": 1, "symbol": "s' "$work/dyn.json"
check "the graph is specialised to the given size" grep -q '"shape": \[5, 1000\]' "$work/dyn.json"
check "batch 5 replays equal to the program" "$run" "$work/dyn.json" --check "$models/resnet18.dynamic.pt2"
expect 2 'input "x" is 65x3x224x224:float32; the program takes s[0-9]+x3x224x224:float32 \(s[0-9]+ in 1..64\): dimension 0 is 65, outside its range' \
  -- "$models/resnet18.dynamic.pt2" --input 65x3x224x224 -o "$work/x.json"
expect 2 'input "x" is 1x3x225x224:float32; the program takes 1x3x224x224:float32: dimension 2 is 225, not 224' \
  -- "$models/resnet18.pt2" --input 1x3x225x224 -o "$work/x.json"
expect 2 'input "input_ids" is 1x16:float32; the program takes 1x16:int64: the dtype differs' \
  -- "$models/bert.pt2" --input 1x16 --input 1x16:int64 -o "$work/x.json"
expect 2 "the model takes 2 inputs \(input_ids, attention_mask\), 1 given" -- "$models/bert.pt2" --input 1x16:int64 -o "$work/x.json"
expect 2 'a torch.export program has one method, forward \(asked for "encode"\)' -- "$models/bert.pt2" --method encode -o "$work/x.json"

# Archives to refuse.
if "$python" "$here/../capture/make_bad_archives.py" "$models" "$work/bad" >"$work/make.log" 2>&1; then
  bad=$work/bad
  expect 4 "schema99.pt2: export schema version 99.[0-9]+; Genie reads major version 8$" -- "$bad/schema99.pt2" -o "$work/x.json"
  expect 4 "custom_op.pt2: the program calls operators outside ATen: torch.ops.genie_test.scale.default \(1 node\)" \
    -- "$bad/custom_op.pt2" -o "$work/x.json"
  expect 4 "cond.pt2: the program uses torch.ops.higher_order.cond \(control flow" -- "$bad/cond.pt2" -o "$work/x.json"
  expect 4 "aoti_only.pt2: the archive holds only an AOTInductor-compiled model" -- "$bad/aoti_only.pt2" -o "$work/x.json"
  expect 1 'no_weight.pt2: tensor "embeddings.LayerNorm.weight": record data/weights/weight_3 is missing' \
    -- "$bad/no_weight.pt2" -o "$work/x.json"
  expect 1 "truncated.pt2: not a readable model archive" -- "$bad/truncated.pt2" -o "$work/x.json"
else
  echo "FAIL: make_bad_archives.py"; sed 's/^/  | /' "$work/make.log"; failures=$((failures + 1))
fi
if ls "$work" | grep -qE '^x\.|\.tmp\.'; then echo "FAIL: partial output left: $(ls "$work" | grep -E '^x\.|\.tmp\.')"; failures=$((failures + 1)); fi

finish genie-capture-pt2
