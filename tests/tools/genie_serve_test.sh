#!/usr/bin/env bash
# genie-serve and genie-run --remote as users run them, with real processes on loopback:
# real models run remotely equal to the model and to local genie-run; the second call
# uploads nothing; two clients at once; a wrong token, foreign bytes, an oversized frame, a
# truncated frame and a client gone mid-upload leave the server answering; a server killed
# mid-run is reported by the client in one line; SIGTERM ends the server cleanly while a
# client calls; on CUDA, a device-side assert stops the server (exit 5); the same over a
# Unix-domain socket, whose file is taken over only from a dead server.
#   usage: genie_serve_test.sh GENIE_SERVE GENIE_RUN GENIE_CAPTURE MODELS_DIR PYTHON
# GENIE_TEST_DEVICE=cuda:0 runs every server, and the local genie-run it is compared with, on
# that device (scripts/gpu-check); the models --check runs stay on the client's CPU.
set -u
# A server that closes a hostile connection makes a later write to it fail: an error for the
# writer to handle, not a signal that kills this script.
trap '' PIPE
serve=$1 run=$2 capture=$3 models=$4 python=$5
device=(--device "${GENIE_TEST_DEVICE:-cpu}")
work=$(mktemp -d)
pids=()
netns=()
cleanup() {
  for p in "${pids[@]}"; do
    kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  for n in "${netns[@]}"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$work" "${sockdir:-}"
}
trap cleanup EXIT
failures=0 passed=0

ok() { passed=$((passed + 1)); }
bad() {
  echo "FAIL: $1"
  shift
  for f in "$@"; do [[ -f $f ]] && sed 's/^/  | /' "$f"; done
  failures=$((failures + 1))
}
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then ok; else bad "$what" "$work/check.out"; fi
}

# start_server NAME ARGS...: starts genie-serve on a free loopback port; sets $port.
start_server() {
  local name=$1
  shift
  "$serve" --listen 127.0.0.1:0 "${device[@]}" "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "${name}_pid=$!"
  for _ in $(seq 100); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/$name.log" | cut -d: -f2)
    [[ -n $port ]] && return 0
    sleep 0.1
  done
  bad "genie-serve $name did not start" "$work/$name.log"
  return 1
}

# expect_run CODE PATTERN -- ARGS...: genie-run's exit code and one-line error.
expect_run() {
  local code=$1 pattern=$2
  shift 3
  "$run" "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$?
  if [[ $rc != "$code" ]] || ! grep -qE -- "$pattern" "$work/stderr" "$work/stdout"; then
    bad "genie-run $* -> exit $rc (want $code, /$pattern/)" "$work/stdout" "$work/stderr"
  elif [[ $code != 0 && $(wc -l <"$work/stderr") -ne 1 ]]; then
    bad "genie-run $*: error must be one line" "$work/stderr"
  else
    ok
  fi
}

# same_outputs A.safetensors B.safetensors: the same tensors, equal to float rounding.
same_outputs() {
  "$python" -c "
import sys
from safetensors.numpy import load_file
r, l = load_file(sys.argv[1]), load_file(sys.argv[2])
assert r.keys() == l.keys(), (r.keys(), l.keys())
import numpy as np
for k in r: assert r[k].shape == l[k].shape and np.allclose(r[k], l[k], rtol=1e-5, atol=1e-6), k
" "$1" "$2"
}

# Sends raw bytes (printf format) to the server and closes.
send_raw() { # send_raw PORT FORMAT
  exec 3<>"/dev/tcp/127.0.0.1/$1" && { printf "$2" >&3; } 2>/dev/null
  sleep 0.2
  exec 3>&- 3<&-
}
HELLO='GNIE\x01\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'

# The real models, captured here (weights beside each graph).
for m in resnet18:1x3x224x224 bert:1x16:int64,1x16:int64 mobilenet_v2:1x3x224x224; do
  name=${m%%:*}
  specs=${m#*:}
  args=()
  IFS=, read -ra parts <<<"$specs"
  for s in "${parts[@]}"; do args+=(--input "$s"); done
  "$capture" "$models/$name.traced.pt" "${args[@]}" -o "$work/$name.json" 2>"$work/capture.err" ||
    bad "capture $name" "$work/capture.err"
done

start_server main --allow-upload --max-request-bytes 100000000 || exit 1
main_port=$port
remote=(--remote "127.0.0.1:$main_port")

# Each model remotely: equal to the TorchScript model; the first call uploads graph and
# weights, the second nothing; equal to local genie-run on the same inputs.
for name in resnet18 bert mobilenet_v2; do
  expect_run 0 '"graph_sent": true' -- "${remote[@]}" "$work/$name.json" --check "$models/$name.traced.pt" \
    --format json -o "$work/$name.remote.safetensors"
  expect_run 0 '"weights_sent": false' -- "${remote[@]}" "$work/$name.json" --check "$models/$name.traced.pt" --format json
  check "$name: second call sent no graph" grep -q '"graph_sent": false' "$work/stdout"
  "$run" "${device[@]}" "$work/$name.json" -o "$work/$name.local.safetensors" >/dev/null 2>&1
  check "$name: remote outputs equal local genie-run's" \
    same_outputs "$work/$name.remote.safetensors" "$work/$name.local.safetensors"
done
check "the server stored 6 uploads (3 graphs, 3 weights), each once" \
  test "$(grep -c ' put .* ok$' "$work/main.log")" = 6
# On this machine the clients above moved from loopback TCP to shared memory (protocol 1.3);
# with GENIE_SHARED_MEMORY=0 one stays on TCP, with outputs just as equal.
check "clients over loopback TCP moved to shared memory" grep -q 'hello .*(moved here from TCP)' "$work/main.log"
moves=$(grep -c '(moved here from TCP)' "$work/main.log")
GENIE_SHARED_MEMORY=0 expect_run 0 '"weights_sent": false' -- "${remote[@]}" "$work/bert.json" --format json \
  -o "$work/bert.tcp.safetensors"
check "bert over plain TCP: outputs equal local genie-run's" \
  same_outputs "$work/bert.tcp.safetensors" "$work/bert.local.safetensors"
check "with GENIE_SHARED_MEMORY=0 the client stayed on TCP" test "$(grep -c '(moved here from TCP)' "$work/main.log")" = "$moves"
"$run" "${remote[@]}" "$work/resnet18.json" --format json >"$work/r18.json.out" 2>&1
check "resnet18 call: 1x3x224x224 float32 in (602,112 bytes + framing)" \
  "$python" -c "import json,sys; r=json.load(open(sys.argv[1]))['remote']; assert 602112 < r['call_bytes_sent'] < 602112 + 200, r; assert 4000 < r['call_bytes_received'] < 4000 + 200, r; assert r['upload_bytes'] < 200, r" "$work/r18.json.out"

# Two clients at once.
"$run" "${remote[@]}" "$work/bert.json" --check "$models/bert.traced.pt" >"$work/c1" 2>&1 &
c1=$!
"$run" "${remote[@]}" "$work/resnet18.json" --check "$models/resnet18.traced.pt" >"$work/c2" 2>&1 &
c2=$!
wait $c1 && ok || bad "first of two concurrent clients" "$work/c1"
wait $c2 && ok || bad "second of two concurrent clients" "$work/c2"
check "the text report names the server and its device, each once" \
  grep -qE "resnet18\.json on 127\.0\.0\.1:$main_port \((cpu|cuda:[0-9]+)\): [0-9]+ nodes; sent nothing" "$work/c2"

# Hostile and broken peers; after each the server still answers.
send_raw "$main_port" 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
send_raw "$main_port" "${HELLO}"'GNIE\x06\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00'  # 2^40-byte frame
send_raw "$main_port" 'GNIE\x06\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00'  # 1 MiB before hello
send_raw "$main_port" 'GNIE\x01\x00\x00\x00\x64\x00\x00\x00\x00\x00\x00\x00abcdefghij'  # 100 promised, 10 sent
send_raw "$main_port" "${HELLO}"'GNIE\x06\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x02partial upload'
send_raw "$main_port" 'GNIE\x63\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'      # unknown message type
# A put-part that does not start at 0: kind 2 (weights), digest 0x11 x 32, total 100, offset 5, 4 bytes.
u64() { printf '\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00\\x00' "$1"; }
digest=$(printf '\\x11%.0s' {1..32})
send_raw "$main_port" "${HELLO}GNIE\x0a\x00\x00\x00$(u64 61)\x02${digest}$(u64 100)$(u64 5)$(u64 4)abcd"
sleep 0.3
check "foreign bytes named in the log" grep -q 'not a Genie frame: .* (an HTTP request?)' "$work/main.log"
check "oversized frame refused from its header" grep -q 'frame of 1099511627776 bytes exceeds the limit of 100000000' "$work/main.log"
check "before hello, frames of 64 KiB at most" grep -q 'frame of 1048576 bytes exceeds the limit of 65536' "$work/main.log"
check "truncated frame logged" grep -q 'truncated frame from 127.0.0.1' "$work/main.log"
check "unknown message type logged" grep -q 'unknown message type 99' "$work/main.log"
check "a part out of order is refused, the upload abandoned" \
  grep -q 'put-part weights=111111111111 at 5/100 .* error: a part at offset 5 of weights 111111111111 where the upload stands at 0; start again at 0' "$work/main.log"
expect_run 0 'equal' -- "${remote[@]}" "$work/resnet18.json" --check "$models/resnet18.traced.pt"

# Only ATen operators run on the server.
sed 's/"op": "aten::relu"/"op": "genie::relu"/' "$work/resnet18.json" >"$work/foreign.json"
cp "$work/resnet18.safetensors" "$work/foreign.safetensors"
expect_run 4 'server: graph: genie-serve does not run operator genie::relu: it is not an ATen operator' -- "${remote[@]}" "$work/foreign.json"
# Nor ATen operators that reach outside their tensors: from_file would read the server's files.
echo "not for clients" >"$work/secret.txt"
cat >"$work/from_file.json" <<JSON
{"format": "genie.graph", "version": {"major": 1, "minor": 0}, "inputs": [], "parameters": [],
 "outputs": [{"name": "out", "value": 0}], "values": [{"id": 0, "dtype": "uint8", "shape": [15], "residency": "activation"}],
 "nodes": [{"id": 0, "op": "aten::from_file", "overload": "", "scope": "", "module_type": "",
   "inputs": [{"name": "filename", "string": "$work/secret.txt"}, {"name": "shared", "bool": false}, {"name": "size", "int": 15},
              {"name": "dtype", "dtype": "uint8"}, {"name": "layout", "none": null}, {"name": "device", "none": null},
              {"name": "pin_memory", "none": null}],
   "outputs": [0]}]}
JSON
printf '\x02\x00\x00\x00\x00\x00\x00\x00{}' >"$work/from_file.safetensors"
expect_run 4 'server: graph: genie-serve does not run operator aten::from_file: it reads, and with shared=True writes, files on the server' \
  -- "${remote[@]}" "$work/from_file.json" -o "$work/stolen.safetensors"
check "nothing written for a refused graph" test ! -e "$work/stolen.safetensors"

# Client errors, one line each.
expect_run 2 'genie-run: .*--device.*excludes|genie-run: .*--remote.*excludes' -- "${remote[@]}" --device cpu "$work/resnet18.json"
expect_run 3 'cannot connect to 127.0.0.1:1: Connection refused' -- --remote 127.0.0.1:1 "$work/resnet18.json"
expect_run 2 'is not HOST:PORT' -- --remote nowhere "$work/resnet18.json"

# A token: refused without it or with a wrong one, accepted with it.
printf 's3cret-token\n' >"$work/token"
printf 'wrong\n' >"$work/wrong"
start_server tokened --allow-upload --token-file "$work/token" || exit 1
expect_run 2 'server: wrong or missing token' -- --remote "127.0.0.1:$port" "$work/resnet18.json"
expect_run 2 'server: wrong or missing token' -- --remote "127.0.0.1:$port" --token-file "$work/wrong" "$work/resnet18.json"
expect_run 0 'equal' -- --remote "127.0.0.1:$port" --token-file "$work/token" "$work/resnet18.json" \
  --check "$models/resnet18.traced.pt"

# Without --allow-upload only what the operator placed in --cache-dir runs.
mkdir "$work/cache"
cp "$work/bert.json" "$work/bert.safetensors" "$work/cache/"
start_server cached --cache-dir "$work/cache" || exit 1
expect_run 0 '"graph_sent": false' -- --remote "127.0.0.1:$port" "$work/bert.json" --check "$models/bert.traced.pt" --format json
check "cached: weights not sent either" grep -q '"weights_sent": false' "$work/stdout"
expect_run 2 'server: this server does not accept uploads' -- --remote "127.0.0.1:$port" "$work/resnet18.json"
check "the upload was refused from its header" grep -q 'frame refused unread: this server does not accept uploads' \
  "$work/cached.log"

# TLS: a CA, a server certificate for 127.0.0.1, a client certificate; a second CA nobody trusts.
tls=$work/tls
mkdir "$tls"
make_ca() { openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tls/$1.key" -out "$tls/$1.pem" -days 2 -subj "/CN=$1" 2>/dev/null; }
make_cert() { # NAME CA SAN
  openssl req -newkey rsa:2048 -nodes -keyout "$tls/$1.key" -out "$tls/$1.csr" -subj "/CN=$1" 2>/dev/null &&
    printf 'subjectAltName=%s\n' "$3" >"$tls/$1.ext" &&
    openssl x509 -req -in "$tls/$1.csr" -CA "$tls/$2.pem" -CAkey "$tls/$2.key" -CAcreateserial -days 2 \
      -extfile "$tls/$1.ext" -out "$tls/$1.pem" 2>/dev/null
}
if make_ca ca && make_ca other-ca && make_cert server ca IP:127.0.0.1 && make_cert client ca DNS:client &&
  make_cert stranger other-ca DNS:stranger; then
  start_server tls --allow-upload --tls-cert "$tls/server.pem" --tls-key "$tls/server.key" \
    --tls-client-ca "$tls/ca.pem" || exit 1
  mtls=(--remote "127.0.0.1:$port" --tls-ca "$tls/ca.pem")
  expect_run 0 'equal' -- "${mtls[@]}" --tls-cert "$tls/client.pem" --tls-key "$tls/client.key" "$work/bert.json" \
    --check "$models/bert.traced.pt"
  # TLS 1.3 completes the client's side of the handshake first: the server's refusal of its
  # certificate arrives as an alert on the first read.
  expect_run 3 'connection to 127.0.0.1:[0-9]+ lost: .*alert certificate required' -- "${mtls[@]}" "$work/bert.json"
  expect_run 3 'connection to 127.0.0.1:[0-9]+ lost: .*alert unknown ca' -- "${mtls[@]}" --tls-cert "$tls/stranger.pem" \
    --tls-key "$tls/stranger.key" "$work/bert.json"
  expect_run 3 'TLS handshake with 127.0.0.1:[0-9]+ failed: certificate verify failed' -- --remote "127.0.0.1:$port" \
    --tls-ca "$tls/other-ca.pem" --tls-cert "$tls/client.pem" --tls-key "$tls/client.key" "$work/bert.json"
  expect_run 3 '(closed the connection|lost|truncated)' -- --remote "127.0.0.1:$port" "$work/bert.json"
  expect_run 2 'cannot load the TLS CA /nonexistent.pem' -- --remote "127.0.0.1:$port" --tls-ca /nonexistent.pem "$work/bert.json"
  check "handshake failures logged, server still up" grep -q 'TLS handshake with 127.0.0.1:[0-9]* failed' "$work/tls.log"
  # A TCP readiness probe (connect, close) is not a failed handshake: nothing logged.
  failures_logged=$(grep -c 'connection ended' "$work/tls.log")
  send_raw "$port" ''
  sleep 0.3
  check "a probe's connection is not logged as an error" test "$(grep -c 'connection ended' "$work/tls.log")" == "$failures_logged"
  expect_run 0 'equal' -- "${mtls[@]}" --tls-cert "$tls/client.pem" --tls-key "$tls/client.key" "$work/resnet18.json" \
    --check "$models/resnet18.traced.pt"
else
  bad "openssl could not make the test certificates"
fi

# Content larger than the server's cache is refused, not stored and dropped at once. This
# server sleeps at once between requests (--poll-us 0): the blocking reads, without polling.
start_server small --allow-upload --cache-bytes 1000000 --poll-us 0 || exit 1
expect_run 2 'server: weights of [0-9]+ bytes exceed this server.s cache \(--cache-bytes 1000000\)' -- \
  --remote "127.0.0.1:$port" "$work/resnet18.json"
expect_run 0 'equal' -- --remote "127.0.0.1:$port" "$work/bert.json" --check "$models/bert.traced.pt"

# Weights larger than the server's frame limit arrive in parts (protocol 1.1): resnet18's
# 47 MB through 8 MB frames, equal outputs; then nothing is sent again.
start_server parts --allow-upload --max-request-bytes 8000000 || exit 1
expect_run 0 'sent graph weights' -- --remote "127.0.0.1:$port" "$work/resnet18.json" --check "$models/resnet18.traced.pt"
check "the weights came in parts" grep -qE "put-part weights=[0-9a-f]+ at 7995904/[0-9]+ in=[0-9]+ out=24 .* ok" "$work/parts.log"
check "the last part stored them" grep -qE "put-part weights=[0-9a-f]+ at 39979520/46807488 in=[0-9]+ out=[0-9]+ .* ok" "$work/parts.log"
expect_run 0 'sent nothing, the server held both' -- --remote "127.0.0.1:$port" "$work/resnet18.json"
# Inputs larger than the server takes in one frame: the client says so before sending them.
# A graph over --max-graph-bytes (mobilenet_v2's 127 KB; resnet18's is 50 KB) is refused.
start_server small --allow-upload --max-request-bytes 300000 --max-graph-bytes 100000 || exit 1
expect_run 2 "genie-run: a run message of 6[0-9]{5} bytes exceeds the 300000 bytes 127.0.0.1:$port takes in one frame" -- \
  --remote "127.0.0.1:$port" "$work/resnet18.json"
check "the server saw no run" bash -c "! grep -q ' run graph=' '$work/small.log'"
expect_run 2 "server: a graph of 1[0-9]{5} bytes exceeds this server's --max-graph-bytes 100000" -- \
  --remote "127.0.0.1:$port" "$work/mobilenet_v2.json"
# A genie-run killed in the middle of an upload (its weights in parts of 700 KB): the server
# lets the upload go and serves the next client, who sends the weights again from 0.
start_server victim --allow-upload --max-request-bytes 700000 || exit 1
"$run" --remote "127.0.0.1:$port" "$work/resnet18.json" >/dev/null 2>&1 &
client=$!
for _ in $(seq 500); do grep -q 'put-part weights=.* at [1-9][0-9]*/' "$work/victim.log" && break; sleep 0.01; done
kill -9 $client
wait $client 2>/dev/null
expect_run 0 'equal' -- --remote "127.0.0.1:$port" "$work/resnet18.json" --check "$models/resnet18.traced.pt"
# The next client's report says whether the kill came mid-upload (it sent the weights again).
if grep -qE 'sent (graph )?weights' "$work/stdout"; then
  ok
else
  echo "genie-serve: note: the upload ended before the kill; a client killed mid-upload was not exercised"
fi

# genie-serve's own errors.
"$serve" --listen 0.0.0.0:0 >"$work/stdout" 2>"$work/stderr"
[[ $? == 2 ]] && grep -q 'not loopback) needs --token-file or mutual TLS' "$work/stderr" && ok ||
  bad "non-loopback without a token" "$work/stderr"
"$serve" --listen 127.0.0.1:0 --tls-cert "$tls/server.pem" --tls-key /nonexistent.key >"$work/stdout" 2>"$work/stderr"
[[ $? == 2 ]] && grep -q 'cannot load the TLS key /nonexistent.key' "$work/stderr" && ok || bad "missing TLS key" "$work/stderr"
"$serve" --listen 127.0.0.1:0 --tls-cert "$tls/server.pem" >"$work/stdout" 2>"$work/stderr"
[[ $? == 2 ]] && ok || bad "--tls-cert without --tls-key" "$work/stderr"
"$serve" --listen 127.0.0.1:0 --poll-us -5 >"$work/stdout" 2>"$work/stderr"
[[ $? == 2 ]] && grep -q -- '--poll-us: Value -5 not in range' "$work/stderr" && ok || bad "negative --poll-us" "$work/stderr"

# Over a Unix-domain socket, for clients on the server's machine: the same outputs, nothing
# sent twice, the client named in the log by its process; a second server cannot take a live
# server's socket, the next one takes a killed server's, and the file goes with its server.
# One server on a TCP port and the socket at once: what a client sent over one, a client of
# the other finds there.
# (A short directory of its own: $work may lie deeper than a socket's path may be long.)
sockdir=$(mktemp -d /tmp/gs.XXXXXX)
sock="$sockdir/serve.sock"
# start_unix_server NAME [ARGS...]: genie-serve on $sock (and what ARGS add); waits until it listens.
start_unix_server() {
  local name=$1
  shift
  "$serve" --listen "unix:$sock" "${device[@]}" --allow-upload "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  eval "${name}_pid=$!"
  for _ in $(seq 100); do
    grep -qE "listening on unix:$sock[, ]" "$work/$name.log" && return 0
    sleep 0.1
  done
  bad "genie-serve $name did not start on unix:$sock" "$work/$name.log"
  return 1
}
start_unix_server killed || exit 1
kill -9 "$killed_pid"
wait "$killed_pid" 2>/dev/null
check "a killed server leaves its socket file" test -S "$sock"
start_unix_server local --listen 127.0.0.1:0 || exit 1
local_port=$(grep -o 'and 127.0.0.1:[0-9]*' "$work/local.log" | cut -d: -f2)
expect_run 0 '"graph_sent": true' -- --remote "unix:$sock" "$work/bert.json" --check "$models/bert.traced.pt" \
  --format json -o "$work/bert.unix.safetensors"
check "bert over a Unix socket: outputs equal local genie-run's" \
  same_outputs "$work/bert.unix.safetensors" "$work/bert.local.safetensors"
expect_run 0 '"weights_sent": false' -- --remote "unix:$sock" "$work/bert.json" --format json
# Without the shared memory genie's clients ask for: the socket's plain stream, as any other
# client of the protocol would use it.
GENIE_SHARED_MEMORY=0 expect_run 0 '"weights_sent": false' -- --remote "unix:$sock" "$work/bert.json" --format json \
  -o "$work/bert.unix-stream.safetensors"
check "bert over a Unix socket's plain stream: outputs equal local genie-run's" \
  same_outputs "$work/bert.unix-stream.safetensors" "$work/bert.local.safetensors"
check "the log names the client's process" grep -qE "unix:pid=[0-9]+,uid=$(id -u) run graph=" "$work/local.log"
expect_run 0 '"weights_sent": false' -- --remote "127.0.0.1:$local_port" "$work/bert.json" --format json
check "a TCP client of the same server found the graph the Unix client sent" grep -q '"graph_sent": false' "$work/stdout"
"$serve" --listen "unix:$sock" >"$work/stdout" 2>"$work/stderr"
[[ $? == 3 && $(wc -l <"$work/stderr") == 1 ]] && grep -q "unix:$sock: a server is listening there already" "$work/stderr" &&
  ok || bad "a second server on a live server's socket" "$work/stderr"
"$serve" --listen "unix:$sock" --listen "unix:$sock" >"$work/stdout" 2>"$work/stderr"
[[ $? == 2 ]] && grep -q "listen unix:$sock is given twice" "$work/stderr" && ok || bad "--listen given twice" "$work/stderr"
"$serve" --listen "unix:$sockdir/other.sock" --listen 0.0.0.0:0 >"$work/stdout" 2>"$work/stderr"
[[ $? == 2 ]] && grep -q 'not loopback) needs --token-file' "$work/stderr" && ok ||
  bad "a non-loopback address beside a Unix socket, without a token" "$work/stderr"
"$serve" --listen "unix:$work/tls.sock" --tls-cert "$tls/server.pem" --tls-key "$tls/server.key" >"$work/stdout" 2>"$work/stderr"
[[ $? == 2 ]] && grep -q 'TLS is for TCP' "$work/stderr" && ok || bad "TLS over a Unix socket" "$work/stderr"
if [[ -f $tls/server.pem ]]; then  # TLS for the TCP port, none on the socket beside it
  start_server both --listen "unix:$sockdir/both.sock" --allow-upload --tls-cert "$tls/server.pem" \
    --tls-key "$tls/server.key" || exit 1
  check "TLS is said of the TCP address only" grep -qE "listening on 127\.0\.0\.1:[0-9]+ \(TLS\) and unix:$sockdir/both\.sock, " \
    "$work/both.log"
  expect_run 0 'equal' -- --remote "unix:$sockdir/both.sock" "$work/bert.json" --check "$models/bert.traced.pt"
  expect_run 0 'equal' -- --remote "127.0.0.1:$port" --tls-ca "$tls/ca.pem" "$work/bert.json" --check "$models/bert.traced.pt"
fi
expect_run 3 "cannot connect to unix:$work/none.sock: No such file or directory" -- --remote "unix:$work/none.sock" \
  "$work/bert.json"
expect_run 2 '"unix:" needs a path' -- --remote unix: "$work/bert.json"
kill -TERM "$local_pid"
wait "$local_pid"
rc=$?
[[ $rc == 0 ]] && ok || bad "SIGTERM to the Unix-socket server -> exit $rc (want 0)" "$work/local.log"
check "the socket file went with its server" test ! -e "$sock"

# A server killed mid-run: the client says so in one line and exits 3 (over TCP, over loopback
# TCP moved to shared memory, and over a Unix socket, where the client waits on shared memory
# and learns it from the socket).
start_server doomed --allow-upload || exit 1
doomed_port=$port
start_server doomed_moved --allow-upload || exit 1
doomed_moved_port=$port
start_unix_server doomed_unix || exit 1
for address in "127.0.0.1:$doomed_port" "127.0.0.1:$doomed_moved_port" "unix:$sock"; do
  shm=1
  case $address in
    unix:*) victim=$doomed_unix_pid log="$work/doomed_unix.log" ;;
    *:$doomed_port) victim=$doomed_pid log="$work/doomed.log" shm=0 ;;
    *) victim=$doomed_moved_pid log="$work/doomed_moved.log" ;;
  esac
  GENIE_SHARED_MEMORY=$shm "$run" --remote "$address" "$work/resnet18.json" --check "$models/resnet18.traced.pt" --bench 500 \
    >"$work/doomed.out" 2>"$work/doomed.err" &
  client=$!
  for _ in $(seq 200); do grep -q ' run graph=' "$log" && break; sleep 0.1; done
  kill -9 "$victim"
  wait "$victim" 2>/dev/null
  wait $client
  rc=$?
  if [[ $rc == 3 && $(wc -l <"$work/doomed.err") == 1 ]] && grep -qE 'genie-run: .*(closed the connection|lost)' "$work/doomed.err"; then ok; else
    bad "client of a killed server at $address -> exit $rc (want 3, one line)" "$work/doomed.err"; fi
done
check "of the two TCP clients of killed servers, one moved to shared memory, one stayed" \
  eval "grep -q 'moved here from TCP' '$work/doomed_moved.log' && ! grep -q 'moved here from TCP' '$work/doomed.log'"

# Across a real interface, where this runs as root: the server in one network namespace,
# the client in another, joined by a veth pair (so not loopback: a token is required).
if [[ $(id -u) == 0 ]] && ip netns add "gs$$" 2>/dev/null; then
  netns+=("gs$$")
  ip netns add "gc$$" && netns+=("gc$$")
  ip link add "vs$$" type veth peer name "vc$$" &&
    ip link set "vs$$" netns "gs$$" && ip link set "vc$$" netns "gc$$" &&
    ip -n "gs$$" addr add 10.201.0.1/24 dev "vs$$" && ip -n "gs$$" link set "vs$$" up && ip -n "gs$$" link set lo up &&
    ip -n "gc$$" addr add 10.201.0.2/24 dev "vc$$" && ip -n "gc$$" link set "vc$$" up && ip -n "gc$$" link set lo up
  ip netns exec "gs$$" "$serve" --listen 10.201.0.1:0 "${device[@]}" --allow-upload --token-file "$work/token" >"$work/netns.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    port=$(grep -o 'listening on 10.201.0.1:[0-9]*' "$work/netns.log" | cut -d: -f2)
    [[ -n $port ]] && break
    sleep 0.1
  done
  for name in resnet18 bert; do
    ip netns exec "gc$$" "$run" --remote "10.201.0.1:$port" --token-file "$work/token" "$work/$name.json" \
      --check "$models/$name.traced.pt" >"$work/netns.out" 2>&1
    check "$name across a veth pair between namespaces" grep -q 'equal' "$work/netns.out"
  done
  # The server saw the client namespace's address: the traffic crossed the veth pair.
  check "the server saw the client's own address" grep -q '10.201.0.2:[0-9]* run graph=' "$work/netns.log"
else
  echo "genie-serve: network namespaces unavailable (not root or no ip netns): that part skipped"
fi

# A CUDA error inside a kernel (here an embedding index out of range: a device-side assert)
# is sticky: the server answers that run with the error, then stops by itself (exit 5) for
# its supervisor to restart it, rather than fail every later run of every client.
if [[ ${GENIE_TEST_DEVICE:-cpu} == cuda* ]]; then
  cat >"$work/lookup.json" <<'JSON'
{"format": "genie.graph", "version": {"major": 1, "minor": 0},
 "inputs": [{"name": "ids", "value": 1}], "parameters": [{"name": "table", "value": 0}],
 "outputs": [{"name": "rows", "value": 2}],
 "values": [{"id": 0, "dtype": "float32", "shape": [4, 2], "residency": "parameter"},
            {"id": 1, "dtype": "int64", "shape": [1], "residency": "activation"},
            {"id": 2, "dtype": "float32", "shape": [1, 2], "residency": "activation"}],
 "nodes": [{"id": 0, "op": "aten::embedding", "overload": "", "scope": "", "module_type": "",
   "inputs": [{"name": "weight", "tensor": 0}, {"name": "indices", "tensor": 1}, {"name": "padding_idx", "int": -1},
              {"name": "scale_grad_by_freq", "bool": false}, {"name": "sparse", "bool": false}],
   "outputs": [2]}]}
JSON
  "$python" -c '
import sys, torch
from safetensors.torch import save_file
save_file({"table": torch.ones(4, 2)}, sys.argv[1] + "/lookup.safetensors")
save_file({"ids": torch.tensor([1000])}, sys.argv[1] + "/bad_ids.safetensors")' "$work"
  start_server sticky --allow-upload || exit 1
  "$run" --remote "127.0.0.1:$port" "$work/lookup.json" --inputs "$work/bad_ids.safetensors" >"$work/stdout" 2>"$work/stderr"
  rc=$?
  [[ $rc == 5 ]] && ok || bad "an out-of-range index on CUDA -> exit $rc (want 5)" "$work/stderr"
  for _ in $(seq 200); do kill -0 "$sticky_pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$sticky_pid" 2>/dev/null && kill -9 "$sticky_pid"  # a failure below, not a hang
  wait "$sticky_pid"
  rc=$?
  [[ $rc == 5 ]] && grep -q 'no longer runs kernels after a failed run' "$work/sticky.log" && ok ||
    bad "a server whose device failed -> exit $rc (want 5)" "$work/sticky.log"
fi

# SIGTERM while a client is calling: the server answers what is in flight and exits 0
# (having answered everything above); the client is told in one line that it has gone.
runs_before=$(grep -c ' run graph=' "$work/main.log")
"$run" "${remote[@]}" "$work/resnet18.json" --check "$models/resnet18.traced.pt" --bench 500 \
  >"$work/last.out" 2>"$work/last.err" &
client=$!
for _ in $(seq 300); do (($(grep -c ' run graph=' "$work/main.log") >= runs_before + 5)) && break; sleep 0.1; done
kill -TERM "$main_pid"
wait "$main_pid"
rc=$?
[[ $rc == 0 ]] && grep -q 'stopped after' "$work/main.log" && ok || bad "SIGTERM -> exit $rc" "$work/main.log"
wait $client
rc=$?
if [[ $rc == 3 && $(wc -l <"$work/last.err") == 1 ]] && grep -qE 'genie-run: .*(closed the connection|lost)' "$work/last.err"; then ok; else
  bad "client of a stopped server -> exit $rc (want 3, one line)" "$work/last.err"; fi

echo "genie-serve: $passed passed, $failures failed"
[[ $failures == 0 ]]
