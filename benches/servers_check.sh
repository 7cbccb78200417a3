#!/usr/bin/env bash
# benches/servers_check.sh: checks of benches/servers.sh itself, run by CI:
# bad options, a missing wrk and a port in use are refused with status 2
# and a clear message; a run leaves no server behind, nor does one cut
# short; a second run straight after the first starts cleanly. Only iofd's
# servers are driven (the rivals' runtimes are not built), briefly.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

S=benches/servers.sh
# Below the kernel's ephemeral range (32768 and up by default), so that no
# client socket of an earlier test, lingering in TIME_WAIT, holds it.
PORT=$((20000 + RANDOM % 12000))
fail() { echo "servers_check: $*" >&2; exit 1; }

# expect STATUS TEXT COMMAND...: the command exits STATUS and says TEXT.
expect() {
  local want=$1 text=$2 out got
  shift 2
  set +e
  out=$("$@" 2>&1)
  got=$?
  set -e
  [ "$got" = "$want" ] || fail "'$*' exited $got, not $want: $out"
  [[ "$out" == *"$text"* ]] || fail "'$*' said: $out (wanted: $text)"
}

# No server of ours left listening on the port.
none_left() {
  if pgrep -f -- "--addr 127.0.0.1:$PORT" >/dev/null; then
    fail "a server is still running after $1"
  fi
}

echo "== bad options"
expect 2 "unknown option: --bogus" "$S" --bogus
expect 2 "unknown server: nginx" "$S" --servers nginx
expect 2 "unknown load: ftp" "$S" --loads ftp
expect 2 "--duration takes whole seconds, at least 1: 0" "$S" --duration 0
expect 2 "--runs takes a positive number: x" "$S" --runs x
expect 2 "not a positive number: 0" "$S" --connections 0
expect 2 "--port takes 1 to 65535: 70000" "$S" --port 70000

echo "== a missing wrk"
expect 2 "wrk is not installed; install it with: apt-get update && apt-get install -y wrk" \
  env WRK=/nonexistent/wrk "$S" --loads http --no-install --port "$PORT"

echo "== a port in use"
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("ready", flush=True)
time.sleep(120)
' "$PORT" >"${TMPDIR:-/tmp}/servers_check.$$" &
HOLDER=$!
trap 'kill $HOLDER 2>/dev/null || true; rm -f "${TMPDIR:-/tmp}/servers_check.$$"' EXIT
for _ in $(seq 50); do grep -q ready "${TMPDIR:-/tmp}/servers_check.$$" && break; sleep 0.1; done
expect 2 "port $PORT is in use" "$S" --servers iofd --loads echo --quick --port "$PORT"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null || true

echo "== two runs, one straight after the other"
for run in 1 2; do
  out=$("$S" --servers iofd --loads echo --quick --port "$PORT" 2>&1) || fail "run $run failed: $out"
  [[ "$out" == *"| echo | 1 | 64 | 64 | iofd |"* ]] || fail "run $run printed no table row: $out"
  none_left "run $run"
done

echo "== a run cut short"
"$S" --servers iofd --loads echo --quick --duration 3 --port "$PORT" >/dev/null 2>&1 &
RUN=$!
for _ in $(seq 100); do
  pgrep -f -- "--addr 127.0.0.1:$PORT" >/dev/null && break
  sleep 0.1
done
kill -INT "$RUN"
wait "$RUN" 2>/dev/null || true
none_left "an interrupted run"
echo "servers.sh checks passed"
