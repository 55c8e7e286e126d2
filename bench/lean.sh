#!/usr/bin/env bash
# The round-four "lean" figures in one run of one test binary, every peer,
# both fronts (bench/README.md, "Lean where the peers lead"): server CPU per
# handshake and per 32 B echo (at GOMAXPROCS 1 and 2) and per pipelined
# 16 KiB echo, the clients in a process of their own (BenchmarkServerCPU);
# idle heap and stack per connection (BenchmarkIdle); pipelined 16 KiB MB/s
# (BenchmarkPipelined). PASSES passes (default 5) of the CPU figures,
# interleaving the contenders: on a shared two-core machine one pass can
# differ from the next by 20 %, so the medians are what to read. Raw output
# in lean.txt, charts in charts/lean. About 20 minutes.
set -euo pipefail
cd "$(dirname "$0")"
go test -c -o lean.test .
trap 'rm -f lean.test' EXIT
peers='ours-messages|ours-nethttp|coder|coder-macaron|melody|gws|gorilla'
{
  passes=${PASSES:-5}
  for pass in $(seq "$passes"); do
    echo "pass $pass of $passes" >&2
    ./lean.test -test.run '^$' -test.bench 'ServerCPU/work=handshake' -test.benchtime 10000x -test.cpu 2
    ./lean.test -test.run '^$' -test.bench 'ServerCPU/work=echo32' -test.benchtime 20000x -test.cpu 1,2
    ./lean.test -test.run '^$' -test.bench 'ServerCPU/work=pipe16k' -test.benchtime 20000x -test.cpu 2
  done
  ./lean.test -test.run '^$' -test.bench "Idle/server=($peers)\$" -test.benchtime 1x -test.count 2
  ./lean.test -test.run '^$' -test.bench "Pipelined/size=16384/server=($peers)\$" -test.benchtime 2s -test.count 3
} | tee lean.txt
go run ./cmd/benchtable -charts charts/lean < lean.txt
