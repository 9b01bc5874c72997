#!/usr/bin/env bash
# genie-graph as a user runs it: exit codes (docs/exit-codes.md), one-line errors, no
# partial output files.   usage: genie_graph_test.sh GENIE_GRAPH TESTDATA_DIR OUT_DIR
set -u
tool=$1 data=$2 out=$3
graph=$data/graphs/tiny_mlp.json weights=$data/graphs/tiny_mlp.safetensors
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0 passed=0

# expect CODE PATTERN -- ARGS...: exit code CODE and stderr (or stdout for 0) matching PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 3
  "$tool" "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$?
  local text
  if [[ $code == 0 ]]; then text=$(cat "$work/stdout"); else text=$(cat "$work/stderr"); fi
  if [[ $rc != "$code" ]] || ! grep -qE -- "$pattern" <<<"$text"; then
    echo "FAIL: genie-graph $* -> exit $rc (want $code), output:"; sed 's/^/  | /' "$work/stdout" "$work/stderr"
    failures=$((failures + 1))
    return
  fi
  if [[ $code != 0 && $(wc -l <"$work/stderr") -ne 1 ]]; then
    echo "FAIL: genie-graph $*: error must be one line:"; sed 's/^/  | /' "$work/stderr"
    failures=$((failures + 1))
    return
  fi
  passed=$((passed + 1))
}

expect 0 "valid genie.graph, 3 nodes, 8 values" -- "$graph"
expect 0 "2  aten::linear" -- "$graph" --weights "$weights"
expect 0 '"parameter_bytes": 848' -- - --format json <"$graph"
expect 0 '"nodes": 3' -- "$graph" --format json
expect 2 "genie-graph: .*graph is required" --
expect 2 "genie-graph: .*--format" -- "$graph" --format yaml
expect 3 "genie-graph: /nonexistent.json: cannot open: No such file or directory" -- /nonexistent.json

# Wrong weights for the graph: a shape mismatch is named.
"$tool" "$graph" -o - | sed 's/"shape": \[4\], "residency": "parameter"/"shape": [5], "residency": "parameter"/' >"$work/wrong_shape.json"
expect 1 'weights tensor "2.bias" is float32\[4\], the graph expects float32\[5\]' -- "$work/wrong_shape.json" --weights "$weights"
printf 'garbage' >"$work/garbage.safetensors"
expect 1 "garbage.safetensors: not a valid safetensors file" -- "$graph" --weights "$work/garbage.safetensors"

# Bad graphs.
head -c 300 "$graph" >"$work/truncated.json"
expect 1 "truncated.json: invalid JSON: " -- "$work/truncated.json"
sed 's/"major": 1/"major": 9/' "$graph" >"$work/future.json"
expect 4 "future.json: /version: graph format version 9.0 is not supported" -- "$work/future.json"

# -o writes the canonical form (which reads back to the same bytes); a failure writes nothing.
expect 0 "valid genie.graph" -- "$graph" -o "$work/canonical.json"
expect 0 "valid genie.graph" -- "$work/canonical.json" -o "$work/canonical2.json"
if ! cmp -s "$work/canonical.json" "$work/canonical2.json"; then echo "FAIL: canonical form is not stable"; failures=$((failures + 1)); fi
cp "$work/canonical.json" "$out/tiny_mlp.canonical.json"  # for the schema check
"$tool" "$graph" -o - >"$work/stdout.json" 2>/dev/null
if ! cmp -s "$work/canonical.json" "$work/stdout.json"; then echo "FAIL: -o - differs from -o FILE"; failures=$((failures + 1)); fi
expect 3 "genie-graph: /nonexistent-dir/out.json: cannot create" -- "$graph" -o /nonexistent-dir/out.json
expect 1 "truncated.json" -- "$work/truncated.json" -o "$work/never.json"
if [[ -e "$work/never.json" ]] || ls "$work" | grep -q '\.tmp\.'; then echo "FAIL: partial output left"; failures=$((failures + 1)); fi

echo "genie-graph: $passed passed, $failures failed"
[[ $failures == 0 ]]
