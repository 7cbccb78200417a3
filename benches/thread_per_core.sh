#!/bin/sh
# Thread-per-core echo vs the echo server example, driven by the harness.
# Build first: cargo build --release --example harness --example echo_server --example thread_per_core
# Run: flock /tmp/iofd-bench.lock benches/thread_per_core.sh
R=${CARGO_TARGET_DIR:-target}/release/examples
for round in 1 2; do
for srv in "echo_server --threads 1" "thread_per_core --threads 1" "echo_server --threads 2" "thread_per_core --threads 2"; do
  $R/$srv --addr 127.0.0.1:0 > /tmp/tpc_srv.out 2>/tmp/tpc_srv.err &
  P=$!
  sleep 0.3
  ADDR=$(sed 's/listening on //' /tmp/tpc_srv.out)
  echo "== $srv (round $round)"
  $R/harness -w tcp-echo --target $ADDR -c 64 -s 64 -t 3 2>/dev/null | grep -E "^ring|^path"
  kill -TERM $P; wait $P
done
done
