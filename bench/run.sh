#!/usr/bin/env bash
# Runs every benchmark COUNT times (default 6), the echo ones also at
# GOMAXPROCS=1, as COUNT separate passes so that the contenders interleave
# (go test -count repeats each benchmark back to back), saves the raw output
# in new.txt and regenerates the results section of README.md from it.
# Then the hub's broadcast benchmark (hub/redis), into broadcast.txt and
# the broadcast sections of README.md and ../docs/rooms.md.
# Takes about COUNT x 3 minutes.
set -euo pipefail
cd "$(dirname "$0")"
count=${COUNT:-6}
go test -c -o bench.test .
trap 'rm -f bench.test' EXIT
: > new.txt
for pass in $(seq "$count"); do
  echo "pass $pass of $count" >&2
  ./bench.test -test.run '^$' -test.bench . -test.cpu 2 -test.timeout 60m | tee -a new.txt
  ./bench.test -test.run '^$' -test.bench 'Echo' -test.cpu 1 -test.timeout 60m | tee -a new.txt
done
go run ./cmd/benchtable -readme README.md -charts charts < new.txt

# The hub's broadcast figures: in memory, over one Redis and over a local
# three-master cluster (hub/redis starts them), for 1, 4 and 16 rooms.
(cd ../hub/redis && go test -run '^$' -bench Broadcast -benchtime 2s -count "$count" -timeout 60m .) | tee broadcast.txt
go run ./cmd/benchtable -broadcast -readme README.md,../docs/rooms.md < broadcast.txt
