#!/bin/sh
# Every figure of the "Targets of issue 8" table in docs/benchmarks.md, one after the
# other (about 25 minutes on the 2-core machine). Run on a quiet machine: the service
# and the load generator share the CPUs, and anything else running shows in the tails.
#
#     sh bench/issue8.sh            # from the repository root, with the venv's python
#
# Each command prints its figures and writes JSON into bench/results/; this script
# also keeps the whole output in bench/results/issue8-<UTC time>.log.
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
mkdir -p bench/results
LOG=bench/results/issue8-$(date -u +%Y%m%dT%H%M%SZ).log

run() {
    echo "\$ python $*" | tee -a "$LOG"
    "$PY" "$@" 2>&1 | tee -a "$LOG"
}

# Scenarios without a --runs option of their own: three runs, the median taken by hand.
run3() {
    for _ in 1 2 3; do run "$@"; done
}

CAM='{"device": "cam00"}'
run bench/run.py throughput --method ping --connections 100,1000
run bench/run.py open-loop --connections 1000 --rate 20000
run bench/run.py hold --connections 10000 --interval 1
run bench/run.py rss --connections 1000
run bench/run.py rss --connections 10000
run bench/live_rss.py --cameras 10 --runs 3
run bench/fanout.py --clients 1000 --cycles 20
run bench/run.py throughput --method get_status --connections 100
run bench/run.py open-loop --method get_status --connections 100 --rate 5000
run bench/run.py startup --cameras 8
run bench/cameras.py ready --cameras 8
run bench/run.py throughput --method get_camera_list --cameras 16 --connections 100,1000
run bench/run.py throughput --method get_camera_status --params "$CAM" --cameras 16 \
    --connections 100,1000
run bench/run.py open-loop --method get_camera_list --cameras 16 --connections 1000 --rate 20000
run bench/run.py open-loop --method get_camera_status --params "$CAM" --cameras 16 \
    --connections 1000 --rate 20000
run3 bench/cameras.py hotplug --cycles 100
run3 bench/snapshots.py --warm 50 --cold 15 --up 15
run3 bench/recordings.py --cycles 30
run3 bench/media.py list --files 100000
echo "whole output: $LOG"
