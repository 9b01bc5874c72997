# Helpers the tool tests share: source it after setting $work (a scratch directory).
#   check DESCRIPTION COMMAND...      the command must succeed
#   expect_tool TOOL CODE PATTERN -- ARGS...
#                                     TOOL ARGS must exit CODE with PATTERN (extended regex) in
#                                     stderr; an error (CODE != 0) must be one line
#   finish NAME                       prints the tally; fails if anything failed
failures=0 passed=0

check() {
  local what=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then passed=$((passed + 1)); else
    echo "FAIL: $what"; sed 's/^/  | /' "$work/check.out"; failures=$((failures + 1)); fi
}

expect_tool() {
  local tool=$1 code=$2 pattern=$3
  shift 4
  "$tool" "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$?
  if [[ $rc != "$code" ]] || ! grep -qE -- "$pattern" "$work/stderr"; then
    echo "FAIL: $(basename "$tool") $* -> exit $rc (want $code):"; sed 's/^/  | /' "$work/stderr"
    failures=$((failures + 1))
  elif [[ $code != 0 && $(wc -l <"$work/stderr") -ne 1 ]]; then
    echo "FAIL: $(basename "$tool") $*: error must be one line:"; sed 's/^/  | /' "$work/stderr"
    failures=$((failures + 1))
  else
    passed=$((passed + 1))
  fi
}

finish() {
  echo "$1: $passed passed, $failures failed"
  [[ $failures == 0 ]]
}
