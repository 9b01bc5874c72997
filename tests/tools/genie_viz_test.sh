#!/usr/bin/env bash
# genie-viz as a user runs it: the format from the output's extension, stdin, files checked by
# real readers (xmllint, pdfinfo, the PNG header), matches from a file or an annotated graph,
# --depth and the node limit, every documented exit code (docs/exit-codes.md: 1 bad input,
# 2 usage, 3 I/O, 4 too large or a newer version), one-line errors, no partial files.
# Given the captured real-model graphs, only those are checked: resnet18 and BERT as SVG
# (clusters and module boxes counted in the SVG), PNG and PDF.
#   usage: genie_viz_test.sh GENIE_VIZ GENIE_PATTERNS SOURCE_DIR OUT_DIR [TEST_GRAPHS_DIR]
set -u
tool=$1 patterns_tool=$2 src=$3 out=$4 graphs=${5:-}
mlp=$src/testdata/graphs/tiny_mlp.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0 passed=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
ok() { passed=$((passed + 1)); }

# expect CODE PATTERN -- ARGS...: exit code CODE; PATTERN matched in stderr, which for an
# error must be one line.
expect() {
  local code=$1 pattern=$2
  shift 3
  "$tool" "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$?
  if [[ $rc != "$code" ]] || ! grep -qE -- "$pattern" "$work/stderr"; then
    fail "genie-viz $* -> exit $rc (want $code, stderr matching $pattern), stderr:"
    sed 's/^/  | /' "$work/stderr" | head -20
    return
  fi
  if [[ $code != 0 && $(wc -l <"$work/stderr") -ne 1 ]]; then
    fail "genie-viz $*: error must be one line:"
    sed 's/^/  | /' "$work/stderr"
    return
  fi
  ok
}

# viz ARGS...: genie-viz, which must exit 0, also in a pipeline: a failure at exit (a
# sanitizer's leak report) after the output was written must not go unseen.
viz() {
  "$tool" "$@" 2>"$work/viz.err"
  local rc=$?
  [[ $rc == 0 ]] || echo "genie-viz $* -> exit $rc: $(head -c 300 "$work/viz.err")" >>"$work/failed-runs"
  return $rc
}

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
  local what=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then ok; else
    fail "$what"
    sed 's/^/  | /' "$work/check.out" | head -20
  fi
}

# equal DESCRIPTION GOT WANT
equal() {
  if [[ $2 == "$3" ]]; then ok; else fail "$1: got '$2', want '$3'"; fi
}

# XPath count over an SVG (Graphviz writes the SVG namespace, hence local-name()).
svg_count() {
  xmllint --xpath "count($2)" "$1" 2>/dev/null
}
clusters() { svg_count "$1" "//*[local-name()='g'][@class='cluster module']"; }
boxes() { svg_count "$1" "//*[local-name()='g'][@class='node $2' or starts-with(@class, 'node $2 ')]"; }

# png_size FILE: "WIDTH HEIGHT" from the IHDR chunk, after the 8-byte signature.
png_ok() {
  local file=$1
  [[ $(head -c 8 "$file" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || return 1
  [[ $(head -c 16 "$file" | tail -c 4) == IHDR ]] || return 1
  local w h
  w=$(od -An -tu4 --endian=big -j16 -N4 "$file" | tr -d ' ')
  h=$(od -An -tu4 --endian=big -j20 -N4 "$file" | tr -d ' ')
  [[ $w -gt 0 && $h -gt 0 ]] || return 1
  echo "$w $h"
}

pdf_ok() {
  pdfinfo "$1" >"$work/pdfinfo" 2>&1 && grep -qE '^Pages: +1$' "$work/pdfinfo"
}

no_partial() {  # no_partial DESCRIPTION FILE: FILE absent and no temporary left beside it
  if [[ ! -e $2 ]] && ! ls "$(dirname "$2")" | grep -q '\.tmp\.'; then ok; else fail "$1: partial output left"; fi
}

if [[ -z $graphs ]]; then
  # --- Formats: from the extension, SVG on stdout by default, stdin as "-".
  viz "$mlp" >"$work/stdout.svg"
  equal "SVG on stdout, nothing on stderr" "$(head -c 5 "$work/stdout.svg")$(cat "$work/viz.err")" "<?xml"
  check "stdout SVG is valid XML" xmllint --noout "$work/stdout.svg"
  # tiny_mlp: Sequential(Linear, ReLU, Linear): modules "0", "1", "2".
  equal "clusters of tiny_mlp" "$(clusters "$work/stdout.svg")" 3
  equal "operator boxes of tiny_mlp" "$(boxes "$work/stdout.svg" op)" 3
  equal "input boxes" "$(boxes "$work/stdout.svg" input)" 1
  equal "output boxes" "$(boxes "$work/stdout.svg" output)" 1
  viz - --format dot <"$mlp" >"$work/stdin.dot"
  cmp -s "$work/stdin.dot" <(viz "$mlp" --format dot | sed 's/tiny_mlp.json/\&lt;stdin\&gt;/') && ok ||
    fail "stdin gives the same graph as the file (but for its title)"

  expect 0 '^genie-viz: 3 nodes as 5 boxes in 3 module clusters -> .*/mlp.svg$' -- "$mlp" -o "$work/mlp.svg"
  check "mlp.svg is valid XML" xmllint --noout "$work/mlp.svg"
  grep -q 'xlink:title="aten::linear (node 0) in 0 (Linear)' "$work/mlp.svg" && ok || fail "module path on hover"
  viz "$mlp" -o "$work/mlp.png"
  size=$(png_ok "$work/mlp.png") && ok || fail "mlp.png: not a PNG with a size"
  viz "$mlp" -o "$work/MLP.PNG"
  cmp -s "$work/mlp.png" "$work/MLP.PNG" && ok || fail "extensions are case-blind"
  viz "$mlp" -o "$work/mlp.pdf"
  check "mlp.pdf opens in pdfinfo with 1 page" pdf_ok "$work/mlp.pdf"
  viz "$mlp" -o "$work/mlp.dot"
  equal "mlp.dot" "$(head -1 "$work/mlp.dot")" "digraph genie {"
  viz "$mlp" -o "$work/mlp.gv"
  cmp -s "$work/mlp.dot" "$work/mlp.gv" && ok || fail ".gv is DOT"
  viz "$mlp" -o "$work/mlp.json"
  check "mlp.json is JSON with the layout" python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["name"] == "genie" and "bb" in doc, doc.keys()' "$work/mlp.json"
  viz "$mlp" --format png -o - >"$work/stdout.png"
  png_ok "$work/stdout.png" >/dev/null && ok || fail "--format png to stdout"
  viz "$mlp" --format dot -o "$work/mlp.txt"
  cmp -s "$work/mlp.dot" "$work/mlp.txt" && ok || fail "--format wins over the extension"

  # Same input, same bytes.
  viz "$mlp" -o "$work/again.svg"
  cmp -s "$work/mlp.svg" "$work/again.svg" && ok || fail "SVG is not deterministic"

  # --- Options.
  viz "$mlp" --rankdir LR --format dot | grep -q 'rankdir=LR' && ok || fail "--rankdir LR"
  viz "$mlp" --format dot | grep -q '>2×16 float32<' && ok || fail "shapes in the labels"
  viz "$mlp" --no-shapes --format dot | grep -q '>[0-9×]* float32<' && fail "--no-shapes left a shape" || ok
  viz "$mlp" --depth 1 -o "$work/depth1.svg"
  equal "--depth 1: clusters" "$(clusters "$work/depth1.svg")" 0
  equal "--depth 1: module boxes" "$(boxes "$work/depth1.svg" module)" 3
  equal "--depth 1: operator boxes" "$(boxes "$work/depth1.svg" op)" 0

  # --- Matches: from --matches, or an annotated graph; --only.
  "$patterns_tool" "$mlp" -o "$work/mlp.matches.json" 2>/dev/null
  "$patterns_tool" "$mlp" --annotate -o "$work/annotated.json" 2>/dev/null
  viz "$mlp" --matches "$work/mlp.matches.json" -o "$work/matched.svg"
  check "matched.svg is valid XML" xmllint --noout "$work/matched.svg"
  # linear_activation: linear 0 and relu 1; mlp: all three.
  equal "linear_activation boxes" "$(svg_count "$work/matched.svg" "//*[local-name()='g'][contains(@class, ' linear_activation')]")" 2
  equal "mlp boxes" "$(svg_count "$work/matched.svg" "//*[local-name()='g'][contains(@class, ' mlp')]")" 3
  grep -q ' mlp (1)<' "$work/matched.svg" && ok || fail "legend entry for mlp"
  viz "$work/annotated.json" -o "$work/annotated.svg"
  equal "annotated graph: mlp boxes" "$(svg_count "$work/annotated.svg" "//*[local-name()='g'][contains(@class, ' mlp')]")" 3
  "$patterns_tool" --annotate "$mlp" | viz - --only mlp -o "$work/only.svg"
  equal "--only mlp: linear_activation boxes" "$(svg_count "$work/only.svg" "//*[local-name()='g'][contains(@class, ' linear_activation')]")" 0
  equal "--only mlp: mlp boxes" "$(svg_count "$work/only.svg" "//*[local-name()='g'][contains(@class, ' mlp')]")" 3
  viz - --matches "$work/mlp.matches.json" --only conv_bn <"$mlp" >"$work/zero.svg" &&
    ok || fail "--only a pattern that ran and matched nothing"

  # --- The node limit: nested scopes a.0, a.1, a.2 (5 boxes; --depth 1: 3).
  sed 's/"scope": "\([0-9]\)"/"scope": "a.\1"/' "$mlp" >"$work/nested.json"
  expect 0 '^genie-viz: .*nested.json: 3 nodes are more than --max-nodes 4: drawn collapsed at --depth 1 \(3 boxes\); choose with --depth N, or --max-nodes 0 to draw every node$' -- "$work/nested.json" --max-nodes 4
  expect 0 '' -- "$work/nested.json" --max-nodes 0 -o "$work/all.svg"
  equal "--max-nodes 0 draws every node" "$(boxes "$work/all.svg" op)" 3
  expect 4 '^genie-viz: .*nested.json: --depth 2 draws 5 boxes, more than --max-nodes 4; --depth 1 draws 3 \(or raise --max-nodes; 0: no limit\)$' -- "$work/nested.json" --depth 2 --max-nodes 4 -o "$work/never.svg"
  no_partial "refused as too large" "$work/never.svg"
  expect 4 '^genie-viz: .*tiny_mlp.json: 3 nodes are more than --max-nodes 2, and even --depth 1 draws 5 boxes' -- "$mlp" --max-nodes 2

  # --- Usage errors: exit 2.
  expect 2 '^genie-viz: graph is required \(see genie-viz --help\)$' --
  expect 2 'genie-viz: .*--format' -- "$mlp" --format yaml
  expect 2 '^genie-viz: -o .*/out.xyz: cannot tell the format from the extension; name it .svg, .png, .pdf, .dot or .json, or pass --format$' -- "$mlp" -o "$work/out.xyz"
  expect 2 'genie-viz: .*--depth' -- "$mlp" --depth 0
  expect 2 'genie-viz: .*--rankdir' -- "$mlp" --rankdir XY
  expect 2 '^genie-viz: --only needs matches: pass --matches FILE, or a graph annotated by genie-patterns --annotate$' -- "$mlp" --only mlp
  expect 2 '^genie-viz: --only nope: no such pattern in the matches \(patterns: attention, conv_bn, ' -- "$mlp" --matches "$work/mlp.matches.json" --only nope
  expect 2 '^genie-viz: the graph and --matches cannot both be read from stdin$' -- - --matches -
  expect 2 'genie-viz: .*--bogus' -- "$mlp" --bogus
  no_partial "usage error" "$work/out.xyz"

  # --- Input and output errors: exit 3, 1, 4; no partial output.
  expect 3 '^genie-viz: /nonexistent.json: cannot open: No such file or directory$' -- /nonexistent.json
  expect 3 '^genie-viz: /nonexistent-matches.json: cannot open' -- "$mlp" --matches /nonexistent-matches.json
  expect 3 '^genie-viz: /nonexistent-dir/out.svg: cannot create' -- "$mlp" -o /nonexistent-dir/out.svg
  expect 3 '^genie-viz: /nonexistent-dir/out.png: cannot create' -- "$mlp" -o /nonexistent-dir/out.png
  head -c 300 "$mlp" >"$work/truncated.json"
  expect 1 '^genie-viz: .*truncated.json: invalid JSON: ' -- "$work/truncated.json" -o "$work/never.png"
  no_partial "invalid graph" "$work/never.png"
  sed 's/"nodes": \[\([0-9]\)/"nodes": [9\1/' "$work/mlp.matches.json" >"$work/bad.matches.json"
  expect 1 '^genie-viz: .*bad.matches.json: /matches/0/nodes/0: node 90 does not exist \(the graph has 3 nodes\)$' -- "$mlp" --matches "$work/bad.matches.json" -o "$work/never.svg"
  no_partial "invalid matches" "$work/never.svg"
  expect 1 "^genie-viz: .*mlp.json: /format: expected \"genie.matches\", found the string \"genie.graph\"$" -- "$mlp" --matches "$mlp"
  expect 1 '^genie-viz: <stdin>: a genie.matches file, not a graph: pass the graph and --matches FILE, or pipe the graph through genie-patterns --annotate$' -- - <"$work/mlp.matches.json"
  sed 's/"major": 1/"major": 9/' "$mlp" >"$work/future.json"
  expect 4 'future.json: /version: graph format version 9.0 is not supported' -- "$work/future.json" -o "$work/never.pdf"
  no_partial "newer graph" "$work/never.pdf"
  sed 's/"major": 1/"major": 3/' "$work/mlp.matches.json" >"$work/future.matches.json"
  expect 4 'future.matches.json: /version: matches format version 3.0 is not supported \(this build reads 1.x\)$' -- "$mlp" --matches "$work/future.matches.json"
  # An existing output is left as it was when the run fails.
  echo keep >"$work/kept.svg"
  "$tool" "$work/truncated.json" -o "$work/kept.svg" 2>/dev/null
  equal "a failed run keeps the old file" "$(cat "$work/kept.svg")" keep

else
  # --- Real models (graphs from the graphs.capture fixture).
  r18=$graphs/resnet18.traced.json bert=$graphs/bert.traced.json
  expect 0 ' -> .*/r18.svg$' -- "$r18" --depth 2 -o "$work/r18.svg"
  check "resnet18 SVG is valid XML" xmllint --noout "$work/r18.svg"
  # The 10 top-level modules are clusters; the 8 BasicBlocks are boxes.
  equal "resnet18 --depth 2: clusters" "$(clusters "$work/r18.svg")" 10
  equal "resnet18 --depth 2: module boxes" "$(boxes "$work/r18.svg" module)" 8
  viz "$r18" -o "$work/r18-full.svg"
  check "resnet18 full SVG is valid XML" xmllint --noout "$work/r18-full.svg"
  # 67 module paths, and a second call of each block's ReLU.
  equal "resnet18: clusters" "$(clusters "$work/r18-full.svg")" 75
  equal "resnet18: operator boxes" "$(boxes "$work/r18-full.svg" op)" 69
  "$patterns_tool" --annotate "$bert" 2>/dev/null | viz - --depth 4 -o "$work/bert.svg"
  check "BERT SVG is valid XML" xmllint --noout "$work/bert.svg"
  equal "BERT --depth 4: clusters" "$(clusters "$work/bert.svg")" 12
  equal "BERT --depth 4: module boxes" "$(boxes "$work/bert.svg" module)" 6
  grep -q ' attention (2)<' "$work/bert.svg" && ok || fail "BERT legend: attention (2)"
  viz "$r18" --depth 2 -o "$work/r18.png"
  size=$(png_ok "$work/r18.png") && ok || fail "resnet18 PNG"
  viz "$bert" --depth 3 -o "$work/bert.pdf"
  check "BERT PDF opens in pdfinfo" pdf_ok "$work/bert.pdf"
fi

if [[ -s $work/failed-runs ]]; then
  while read -r line; do fail "$line"; done <"$work/failed-runs"
fi
echo "genie-viz: $passed passed, $failures failed"
[[ $failures == 0 ]]
