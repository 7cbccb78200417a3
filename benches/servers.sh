#!/usr/bin/env bash
# benches/servers.sh: iofd's echo and HTTP servers beside the same servers
# on tokio, monoio, tokio-uring and the raw io-uring crate (the `peers`
# crate), one after another under the same load, in one table.
#
# Echo is driven by the harness's tcp-echo workload (one ring, one thread,
# one request in flight per connection), HTTP by wrk (GET /plaintext, one
# thread, keep-alive). The client is the same for every server; on a small
# machine it shares the CPUs with the server, so the ratios compare the
# servers, not absolute capacity.
#
# Usage: benches/servers.sh [--duration SECS] [--port PORT] [--servers LIST]
#                           [--loads echo,http] [--threads LIST]
#                           [--connections LIST] [--sizes LIST] [--runs K]
#                           [--quick] [--no-install] [--out FILE]
#
# Each point (load, threads, connections, size) runs every server K times
# (default 3), the servers taking turns, and the table gives the medians:
# on a shared 2-vCPU machine one run can be 20% off.
# Exit status: 0 after a run; 2 for bad options, a missing wrk that cannot
# be installed, or a port in use; 1 when a server or a client fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=3
RUNS=3
PORT=18080
SERVERS="iofd,raw,monoio,tokio_uring,tokio"
LOADS="echo,http"
THREADS="1,2"
CONNECTIONS="64,1000"
SIZES="64,4096"
OUT=""
INSTALL=1
WRK="${WRK:-wrk}"

die() { echo "servers.sh: $1" >&2; exit "${2:-2}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="${2:?}"; shift 2 ;;
    --port) PORT="${2:?}"; shift 2 ;;
    --servers) SERVERS="${2:?}"; shift 2 ;;
    --loads) LOADS="${2:?}"; shift 2 ;;
    --threads) THREADS="${2:?}"; shift 2 ;;
    --connections) CONNECTIONS="${2:?}"; shift 2 ;;
    --sizes) SIZES="${2:?}"; shift 2 ;;
    --runs) RUNS="${2:?}"; shift 2 ;;
    --quick) DURATION=1; RUNS=1; THREADS=1; CONNECTIONS=64; SIZES=64; shift ;;
    --out) OUT="${2:?}"; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "--duration takes whole seconds, at least 1: $DURATION"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs takes a positive number: $RUNS"
[[ "$PORT" =~ ^[1-9][0-9]*$ ]] && [ "$PORT" -le 65535 ] || die "--port takes 1 to 65535: $PORT"
for s in ${SERVERS//,/ }; do
  case "$s" in iofd|raw|monoio|tokio_uring|tokio) ;; *) die "unknown server: $s (iofd, raw, monoio, tokio_uring, tokio)" ;; esac
done
for l in ${LOADS//,/ }; do
  case "$l" in echo|http) ;; *) die "unknown load: $l (echo, http)" ;; esac
done
for n in ${THREADS//,/ } ${CONNECTIONS//,/ } ${SIZES//,/ }; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "not a positive number: $n"
done

# wrk: the HTTP load generator, from Debian's package (installed here when
# missing, unless --no-install; WRK names another binary).
if [[ ",$LOADS," == *",http,"* ]] && ! command -v "$WRK" >/dev/null; then
  if [ "$INSTALL" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "servers.sh: installing wrk (apt-get install wrk)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null 2>&1 || true
  fi
  command -v "$WRK" >/dev/null || die "wrk is not installed; install it with: apt-get update && apt-get install -y wrk"
fi

ADDR="127.0.0.1:$PORT"
# A port someone else listens on: refuse before building anything.
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  die "port $PORT is in use (something accepts connections on $ADDR); pick another with --port"
fi

echo "== building (release)" >&2
cargo build --release --quiet --example echo_server --example http_server --example harness
if [[ "$SERVERS" != "iofd" ]]; then
  cargo build --release --quiet -p peers
fi
BIN="${CARGO_TARGET_DIR:-target}/release"

WORK="$(mktemp -d)"
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

binary() { # load server
  case "$2" in
    iofd) echo "$BIN/examples/${1}_server" ;;
    *) echo "$BIN/${1}_$2" ;;
  esac
}

# Starts server $2 for load $1 with $3 threads; waits for its start line.
start_server() {
  local out="$WORK/server.out" err="$WORK/server.err"
  : >"$out"
  "$(binary "$1" "$2")" --addr "$ADDR" --threads "$3" >"$out" 2>"$err" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    if grep -q '^listening on ' "$out"; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" 2>/dev/null || true
      SERVER_PID=""
      die "the $2 $1 server did not start: $(head -c 300 "$err")" 1
    fi
    sleep 0.1
  done
  die "the $2 $1 server printed no start line in 10 s" 1
}

# Counts the server's syscalls, and every ring's CQEs, while "$@" runs:
# prints "syscalls cqes" (or "- -" when perf cannot count them here). A
# CQE is counted in whatever task posts it, often not its ring's owner
# (a send's wake-up posts the peer's recv), so CQEs are counted across the
# machine and the client's own (the harness reports them) taken off later.
counted() {
  local outer="$WORK/perf.p" inner="$WORK/perf.a"
  if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
    perf stat -x, -e raw_syscalls:sys_enter -p "$SERVER_PID" -o "$outer" -- \
      perf stat -x, -a -e io_uring:io_uring_complete,io_uring:io_uring_cqe_overflow -o "$inner" -- \
      "$@" >"$WORK/client.out" 2>"$WORK/client.err" || return 1
    awk -F, '/raw_syscalls:sys_enter/ {s=$1} END {printf "%s ", (s ~ /^[0-9]+$/ ? s : "-")}' "$outer"
    awk -F, '/io_uring:/ {if ($1 ~ /^[0-9]+$/) c += $1; else bad = 1}
             END {print (bad ? "-" : c)}' "$inner"
  else
    "$@" >"$WORK/client.out" 2>"$WORK/client.err" || return 1
    echo "- -"
  fi
}

ROWS="$WORK/rows.txt"
: >"$ROWS"

# The clients: the harness's tcp-echo (one thread) and wrk (one thread).
echo_cmd() { # connections size
  ECHO_CMD=("$BIN/examples/harness" --workload tcp-echo --target "$ADDR" --connections "$1"
    --size "$2" --duration "$DURATION" --json)
}

http_cmd() { # connections
  HTTP_CMD=("$WRK" --latency -t 1 -c "$1" -d "${DURATION}s" "http://$ADDR/plaintext")
}

parse_echo() {
  python3 - "$WORK/client.out" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
run = report["runs"][0]
lat = run["latency_us"]
print(run["ops_per_sec"], lat["p50"], lat["p99"], run["ops"], report["tcp"]["client_cqes"])
PY
}

parse_wrk() {
  python3 - "$WORK/client.out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def us(v, unit):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
lat = dict((p, us(v, u)) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
reqs = int(re.search(r"(\d+) requests in", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", text)
if errors:
    sys.stderr.write("wrk reported errors: " + errors.group(0) + "\n")
print(rps, lat.get("50", "-"), lat.get("99", "-"), reqs, 0)
PY
}

for load in ${LOADS//,/ }; do
  for threads in ${THREADS//,/ }; do
    for conns in ${CONNECTIONS//,/ }; do
      if [ "$load" = echo ]; then sizes="${SIZES//,/ }"; else sizes="-"; fi
      for size in $sizes; do
       for run in $(seq "$RUNS"); do
        for server in ${SERVERS//,/ }; do
          start_server "$load" "$server" "$threads"
          if [ "$load" = echo ]; then
            echo_cmd "$conns" "$size"
            counts=$(counted "${ECHO_CMD[@]}") || die "the echo client failed against $server: $(tail -c 300 "$WORK/client.err")" 1
            read -r rps p50 p99 reqs client < <(parse_echo)
          else
            http_cmd "$conns"
            counts=$(counted "${HTTP_CMD[@]}") || die "wrk failed against $server: $(tail -c 300 "$WORK/client.err")" 1
            read -r rps p50 p99 reqs client < <(parse_wrk)
          fi
          stop_server
          read -r sys cqes <<<"$counts"
          if [ "$cqes" != - ]; then cqes=$((cqes - client)); fi
          echo "$load $threads $conns $size $server $rps $p50 $p99 $reqs $sys $cqes" >>"$ROWS"
          printf '%-4s t=%s c=%-4s size=%-4s run %s %-11s %10.0f req/s\n' "$load" "$threads" "$conns" "$size" "$run" "$server" "$rps" >&2
        done
       done
      done
    done
  done
done

python3 - "$ROWS" "$DURATION" "$RUNS" <<'PY' | tee ${OUT:+"$OUT"}
import sys, statistics
from collections import OrderedDict
runs = OrderedDict()
for line in open(sys.argv[1]):
    f = line.split()
    if f:
        runs.setdefault(tuple(f[:5]), []).append(f[5:])
def med(values):
    nums = [float(v) for v in values if v != "-"]
    return statistics.median(nums) if nums else None
rows = []
for key, rs in runs.items():
    rps = med(r[0] for r in rs)
    p50 = med(r[1] for r in rs)
    p99 = med(r[2] for r in rs)
    per = lambda i: med(float(r[i]) / max(int(r[3]), 1) for r in rs if r[i] != "-")
    rows.append((key, rps, p50, p99, per(4), per(5), min(float(r[0]) for r in rs), max(float(r[0]) for r in rs)))
base = {k[:4]: rps for k, rps, *_ in rows if k[4] == "iofd"}
print(f"{sys.argv[3]} runs of {sys.argv[2]} s per server and point; medians (req/s range in brackets)\n")
print("| load | threads | conns | size | server | req/s | vs iofd | p50 µs | p99 µs | syscalls/req | CQEs/req |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
fmt = lambda v, f: "-" if v is None else f.format(v)
for (load, threads, conns, size, server), rps, p50, p99, sysr, cqer, lo, hi in rows:
    b = base.get((load, threads, conns, size))
    ratio = f"{rps / b:.2f}" if b else "-"
    spread = f" [{lo / 1000:.0f}k–{hi / 1000:.0f}k]" if lo != hi else ""
    print(f"| {load} | {threads} | {conns} | {size} | {server} | {rps:,.0f}{spread} | {ratio} | "
          f"{fmt(p50, '{:.0f}')} | {fmt(p99, '{:.0f}')} | {fmt(sysr, '{:.3f}')} | {fmt(cqer, '{:.2f}')} |")
PY
