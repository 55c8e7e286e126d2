#!/usr/bin/env bash
# Runs every benchmark COUNT times (default 6), the echo ones also at
# GOMAXPROCS=1, saves the raw output in new.txt and regenerates the results
# section of README.md from it. Takes about COUNT x 2 minutes.
set -euo pipefail
cd "$(dirname "$0")"
count=${COUNT:-6}
{
  go test -run '^$' -bench . -cpu 2 -count "$count" -timeout 60m .
  go test -run '^$' -bench 'Echo' -cpu 1 -count "$count" -timeout 60m .
} | tee new.txt
go run ./cmd/benchtable -readme README.md < new.txt
