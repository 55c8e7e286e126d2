#!/usr/bin/env bash
# Runs the tests of every module of the repository (the library and its
# test kit, the example, the Redis backplane, the Prometheus collector, the
# benchmarks' module), each
# with the race detector, and reports every module's result: a failure in
# one does not hide the others. Exits non-zero if any failed.
set -u
cd "$(dirname "$0")"
failed=()
run() {
	echo "== $*"
	"$@" || failed+=("$*")
}
run go test -race -count=1 ./...
run go -C example test -race -count=1 ./...
run go -C hub/redis test -race -count=1 ./...
run go -C wsprom test -race -count=1 ./...
run go -C bench test -race -count=1 .
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "PASS: all five modules"
