#!/usr/bin/env bash
# Runs a command with one shared dev stack (embedded Temporal and a private
# PostgreSQL cluster) for its whole run, so every test package talks to the
# same servers instead of starting its own. The stack lives in a temporary
# folder and is stopped and removed afterwards, whatever the command did.
# Usage: scripts/with-dev-stack.sh go test ./...
set -euo pipefail
worker=${KAM_WORKER_BIN:-bin/worker}
dir=$(mktemp -d -t kamflow-test.XXXXXX)
out="$dir/stack.out"
"$worker" --dev --services-only --data-dir "$dir/data" --dev-temporal-port 0 --dev-ui-port 0 \
	--http-addr 127.0.0.1:0 --log-level warn >"$out" 2>"$dir/stack.log" &
pid=$!
cleanup() {
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 1 600); do
	grep -q '^KAM_TEST_PG_URL=' "$out" 2>/dev/null && break
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "the test dev stack did not start:" >&2
		cat "$dir/stack.log" >&2
		exit 1
	fi
	sleep 0.1
done
grep -q '^KAM_TEST_PG_URL=' "$out" || { echo "the test dev stack did not start within 60s" >&2; cat "$dir/stack.log" >&2; exit 1; }
set -a
# shellcheck disable=SC1090
. "$out"
set +a
export KAM_TEST_TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS
unset TEMPORAL_ADDRESS
"$@"
