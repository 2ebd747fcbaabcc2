#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a short fixed time, one after
# the other, so `make test` exercises the fuzzers on fresh random input and
# not only on their seed corpora (testdata/fuzz/<Target>/). A failure leaves
# the failing input in testdata/fuzz/<Target>/ and stops the run.
#
#   scripts/fuzz-smoke.sh                 each target for FUZZTIME (5s)
#   FUZZTIME=60s scripts/fuzz-smoke.sh    longer, as `make fuzz` does
#
# Targets are found by their `func FuzzX(f *testing.F)` line, so no test
# binary is built just to list them. Some targets (internal/api) need
# PostgreSQL: without KAM_TEST_PG_URL the script runs itself under
# scripts/with-dev-stack.sh, which provides one.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${KAM_TEST_PG_URL:-}" ]]; then
	exec scripts/with-dev-stack.sh "$0" "$@"
fi
fuzztime=${FUZZTIME:-5s}
go=${GO:-go}
failed=0
count=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$SECONDS
while IFS= read -r file; do
	pkg=./$(dirname "$file")
	for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]*\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(/\1/'); do
		count=$((count + 1))
		for attempt in 1 2; do
			echo "fuzz $pkg $target for $fuzztime"
			if "$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
				continue 2
			fi
			# Go 1.26's fuzz coordinator can report its own deadline as a
			# failure when -fuzztime ends while a worker is busy
			# (go.dev/issue/75804, fixed in Go 1.27): a bare "context
			# deadline exceeded" with no input written is not a finding.
			if grep -q 'context deadline exceeded' "$log" && ! grep -qE 'Failing input written to|panic:' "$log"; then
				echo "fuzz $pkg $target: the fuzzer stopped at its deadline without an input (go.dev/issue/75804), not a finding" >&2
				[[ $attempt == 1 ]] && continue
				continue 2
			fi
			echo "fuzz $pkg $target FAILED: the input is in $pkg/testdata/fuzz/$target/" >&2
			failed=1
			break 3
		done
	done
done < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' --exclude-dir=.git --exclude-dir=node_modules . | sed 's|^\./||' | sort)
echo "fuzz: $count targets, $((SECONDS - start))s"
exit "$failed"
