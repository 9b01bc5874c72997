#!/usr/bin/env bash
# genie-patterns as a user runs it: outputs, exit codes (docs/exit-codes.md: 0 found, 6 none
# found, errors 1/2/3/4), one-line errors, no partial output files; and, given genie-capture
# and the real models, the pipeline genie-capture | genie-patterns --annotate | genie-graph.
#   usage: genie_patterns_test.sh GENIE_PATTERNS GENIE_GRAPH SOURCE_DIR OUT_DIR [GENIE_CAPTURE MODELS_DIR]
set -u
tool=$1 graph_tool=$2 src=$3 out=$4 capture=${5:-} models=${6:-}
mlp=$src/testdata/graphs/tiny_mlp.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0 passed=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# expect CODE PATTERN -- ARGS...: exit code CODE; PATTERN matched in stdout (codes 0 and 6) or
# in stderr (errors, which must be one line).
expect() {
  local code=$1 pattern=$2
  shift 3
  "$tool" "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$? text
  if [[ $code == 0 || $code == 6 ]]; then text=$(cat "$work/stdout"); else text=$(cat "$work/stderr"); fi
  if [[ $rc != "$code" ]] || ! grep -qE -- "$pattern" <<<"$text"; then
    fail "genie-patterns $* -> exit $rc (want $code), output:"
    sed 's/^/  | /' "$work/stdout" "$work/stderr" | head -20
    return
  fi
  if [[ $code != 0 && $code != 6 && $(wc -l <"$work/stderr") -ne 1 ]]; then
    fail "genie-patterns $*: error must be one line:"
    sed 's/^/  | /' "$work/stderr"
    return
  fi
  passed=$((passed + 1))
}

check() {  # check DESCRIPTION COMMAND...: the command must succeed
  local what=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then passed=$((passed + 1)); else
    fail "$what"
    sed 's/^/  | /' "$work/check.out" | head -20
  fi
}

# Matches of the built-in patterns on the bundled MLP (Linear, ReLU, Linear).
expect 0 '"format": "genie.matches"' -- "$mlp"
expect 0 '\{"name": "mlp", "source": "[^"]*linear.json", "matches": 1\}' -- "$mlp"
expect 0 '"pattern": "linear_activation", "anchor": 1, "confidence": 1.0, "scope": "", "roles": \{"linear": \[0\], "activation": \[1\]\}' -- "$mlp"
expect 0 'linear_activation +1  \(top\)' -- "$mlp" --format text
(cd "$src/testdata/graphs" && "$tool" tiny_mlp.json --format text) >"$work/relative.txt"
grep -q '^tiny_mlp.json: 3 nodes, 2 matches of 11 patterns' "$work/relative.txt" && passed=$((passed + 1)) ||
  fail "text summary header: $(head -1 "$work/relative.txt")"
expect 0 '"graph": "<stdin>"' -- - <"$mlp"
"$tool" "$mlp" --only mlp >"$work/only.json"
[[ $(grep -c '"name": ' "$work/only.json") == 1 ]] && passed=$((passed + 1)) || fail "--only mlp lists other patterns"

# Same input, same bytes.
"$tool" "$mlp" >"$work/a.json"
"$tool" "$mlp" >"$work/b.json"
cmp -s "$work/a.json" "$work/b.json" && passed=$((passed + 1)) || fail "matches file is not deterministic"
cp "$work/a.json" "$out/tiny_mlp.matches.json"  # for the schema check

# Nothing found: exit 6, the (empty) result still written.
sed 's/aten::linear/aten::bilinear/g' "$mlp" >"$work/no_match.json"
expect 6 '"matches": \[\]' -- "$work/no_match.json"
expect 6 'linear_activation +0$' -- "$work/no_match.json" --format text
expect 6 '"matches": \[\]' -- "$mlp" --only conv_bn
"$tool" "$work/no_match.json" -o "$work/none.json" 2>/dev/null
[[ $? == 6 && -s "$work/none.json" ]] && passed=$((passed + 1)) || fail "exit 6 must still write the output file"

# --list
expect 0 '^attention +.*attention.json \(variants: fused, fused_multi_head, decomposed\)$' -- --list
expect 0 '^repeated_block +<plugin>$' -- --list
expect 0 '"name": "layer_norm", "source": "[^"]*normalization.json", "variants": \["fused", "decomposed", "var_mean"\]' -- --list --format json

# Usage errors: exit 2.
expect 2 '^genie-patterns: graph is required \(or --list; see genie-patterns --help\)$' --
expect 2 '^genie-patterns: --only nope: no such pattern \(known: attention, conv_bn, ' -- "$mlp" --only nope
expect 2 'genie-patterns: .*--format' -- "$mlp" --format yaml
expect 2 '^genie-patterns: --annotate writes a graph: it takes no --format text$' -- "$mlp" --annotate --format text
expect 2 '^genie-patterns: --list takes no graph and no --annotate' -- "$mlp" --list
expect 2 'genie-patterns: .*--bogus' -- "$mlp" --bogus

# Input and output errors: exit 3, 1, 4; no partial output.
expect 3 '^genie-patterns: /nonexistent.json: cannot open: No such file or directory$' -- /nonexistent.json
expect 3 '^genie-patterns: /nonexistent-dir/out.json: cannot create' -- "$mlp" -o /nonexistent-dir/out.json
head -c 300 "$mlp" >"$work/truncated.json"
expect 1 '^genie-patterns: .*truncated.json: invalid JSON: ' -- "$work/truncated.json" -o "$work/never.json"
[[ ! -e "$work/never.json" ]] && ! ls "$work" | grep -q '\.tmp\.' && passed=$((passed + 1)) || fail "partial output left"
sed 's/"major": 1/"major": 9/' "$mlp" >"$work/future.json"
expect 4 'future.json: /version: graph format version 9.0 is not supported' -- "$work/future.json"

# Pattern files: --patterns replaces the built-in ones; bad files name file, pointer, problem.
mkdir -p "$work/mine"
cat >"$work/mine/relu_after_linear.json" <<'EOF'
{
  "format": "genie.patterns",
  "version": {"major": 1, "minor": 0},
  "patterns": [
    {"name": "relu_after_linear", "description": "A linear layer feeding a ReLU.",
     "nodes": {"fc": {"op": "aten::linear"}, "act": {"op": ["aten::relu", "aten::relu_"], "inputs": {"0": "fc"}}}}
  ]
}
EOF
cp "$work/mine/relu_after_linear.json" "$out/relu_after_linear.patterns.json"  # for the schema check
expect 0 '\{"name": "relu_after_linear", "source": "[^"]*relu_after_linear.json", "matches": 1\}' -- "$mlp" --patterns "$work/mine"
expect 0 'relu_after_linear +1' -- "$mlp" --patterns "$work/mine/relu_after_linear.json" --format text
"$tool" "$mlp" --patterns "$work/mine" --format text >"$work/mine.txt"
if grep -q '^attention' "$work/mine.txt" || ! grep -q '^repeated_block' "$work/mine.txt"; then
  fail "--patterns must replace the built-in files and keep the plugins"
else passed=$((passed + 1)); fi
expect 0 'relu_after_linear +1' -- "$mlp" --patterns "$src/patterns" --patterns "$work/mine" --format text
sed 's/"aten::linear"/"linear"/' "$work/mine/relu_after_linear.json" >"$work/bad_op.json"
expect 1 "^genie-patterns: $work/bad_op.json: /patterns/0/nodes/fc/op: expected an operator name such as \"aten::relu\"" -- "$mlp" --patterns "$work/bad_op.json"
sed 's/"fc"}/"fcc"}/' "$work/mine/relu_after_linear.json" >"$work/bad_ref.json"
expect 1 "bad_ref.json: /patterns/0/nodes/act/inputs/0: \"fcc\" is not a role of this pattern \(roles: fc, act" -- "$mlp" --patterns "$work/bad_ref.json"
sed 's/"major": 1/"major": 2/' "$work/mine/relu_after_linear.json" >"$work/future_patterns.json"
expect 4 'future_patterns.json: /version: patterns format version 2.0 is not supported \(this build reads 1.x\)' -- "$mlp" --patterns "$work/future_patterns.json"
head -c 100 "$work/mine/relu_after_linear.json" >"$work/cut.json"
expect 1 'cut.json: invalid JSON: line' -- --list --patterns "$work/cut.json"
expect 1 'is already defined in' -- "$mlp" --patterns "$work/mine" --patterns "$work/mine/relu_after_linear.json"
expect 3 '/nonexistent.json: cannot open' -- "$mlp" --patterns /nonexistent.json
GENIE_PATTERNS_DIR=/nonexistent-patterns expect 3 '^genie-patterns: /nonexistent-patterns: the built-in pattern directory is missing \(set GENIE_PATTERNS_DIR or pass --patterns\)$' -- "$mlp"
GENIE_PATTERNS_DIR=$work/mine expect 0 'relu_after_linear +1' -- "$mlp" --format text

# --annotate: a valid graph, matches on its nodes; -o FILE says what it wrote.
expect 0 '"matches": \[\{"match": 0, "pattern": "linear_activation", "role": "linear"\}' -- "$mlp" --annotate
"$tool" "$mlp" --annotate -o "$work/annotated.json" 2>"$work/stderr"
grep -q '^genie-patterns: 2 matches of 11 patterns -> ' "$work/stderr" && passed=$((passed + 1)) || fail "summary line: $(cat "$work/stderr")"
check "annotated graph is valid" "$graph_tool" "$work/annotated.json"
cp "$work/annotated.json" "$out/tiny_mlp.annotated.json"  # for the schema check
"$tool" "$work/annotated.json" --annotate | cmp -s - "$work/annotated.json" && passed=$((passed + 1)) ||
  fail "annotating an annotated graph must give the same bytes"

# The pipeline on a real model (when genie-capture and the models are given).
if [[ -n $capture ]]; then
  pipeline() {
    set -o pipefail
    "$capture" "$models/resnet18.traced.pt" --input 1x3x224x224 -o - --weights "$work/r18.safetensors" 2>/dev/null |
      "$tool" --annotate - | "$graph_tool" - >"$work/pipeline.txt"
  }
  check "genie-capture | genie-patterns --annotate | genie-graph" pipeline
  grep -q 'valid genie.graph, ' "$work/pipeline.txt" && passed=$((passed + 1)) || fail "pipeline: $(head -1 "$work/pipeline.txt")"
  "$capture" "$models/bert.traced.pt" --input 1x16:int64 --input 1x16:int64 -o - --weights "$work/bert.safetensors" 2>/dev/null |
    "$tool" - --format text >"$work/bert.txt"
  grep -qE '^attention +2  encoder.layer.0.attention.self, encoder.layer.1.attention.self$' "$work/bert.txt" && passed=$((passed + 1)) ||
    fail "bert summary:$(sed 's/^/\n  | /' "$work/bert.txt")"
  "$capture" "$models/resnet18.traced.pt" --input 1x3x224x224 -o - --weights "$work/r18.safetensors" 2>/dev/null |
    "$tool" --annotate - -o "$out/resnet18.annotated.json" 2>/dev/null
  check "annotated resnet18 is valid" "$graph_tool" "$out/resnet18.annotated.json"
  # resnet18's 9 conv-bn-relu blocks: each relu node says so.
  relus=$(grep -o '"pattern": "conv_bn_relu", "role": "relu"' "$out/resnet18.annotated.json" | wc -l)
  [[ $relus == 9 ]] && passed=$((passed + 1)) || fail "annotated resnet18: $relus conv_bn_relu relu nodes, want 9"
fi

echo "genie-patterns: $passed passed, $failures failed"
[[ $failures == 0 ]]
