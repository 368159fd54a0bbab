#!/bin/sh
# Two commits of the service, interleaved (A B ceiling, rotated; >= 3 rounds), medians
# and the markdown table with the picows echo ceiling. Extra options go to compare.py:
#
#     bench/compare.sh 198b029 HEAD
#     bench/compare.sh main my-branch --rounds 5 --only ping:100,ping:1000
set -eu
if [ "$#" -lt 2 ]; then
    echo "usage: bench/compare.sh A B [compare.py options]" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
exec uv run python bench/compare.py "$@"
