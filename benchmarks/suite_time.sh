#!/usr/bin/env bash
# The test suite's wall time on several revisions, back to back in one window (compare in the
# same run: one absolute time on a shared machine means little). For each REVISION a git
# worktree in a temporary folder runs the pytest body of its own `make test` (`-n 2`, plus
# `--dist worksteal` where the Makefile has it) with this checkout's .venv and PYTHONPATH
# pointing at the worktree; "." is this working tree as it is.
#
#   benchmarks/suite_time.sh dbe8b45 23a4ece .          # the whole suites
#   IDS=ids.txt benchmarks/suite_time.sh dbe8b45 .      # only the test ids listed in ids.txt
#
# ids.txt: `pytest --collect-only -q | grep ::` of both revisions, `comm -12` of the sorted lists.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"
SCRATCH="$(mktemp -d)"
trap 'for tree in "$SCRATCH"/*; do git -C "$ROOT" worktree remove --force "$tree" 2>/dev/null || true; done; rm -rf "$SCRATCH"' EXIT

for revision in "$@"; do
    if [[ "$revision" == "." ]]; then
        tree="$ROOT"
    else
        tree="$SCRATCH/$revision"
        git -C "$ROOT" worktree add --detach --quiet "$tree" "$revision"
    fi
    args=(-n 2 -q -p no:cacheprovider)
    if grep -q -- "--dist worksteal" "$tree/Makefile"; then
        args+=(--dist worksteal)
    fi
    if [[ -n "${IDS:-}" ]]; then
        mapfile -t ids < "$IDS"
        args+=("${ids[@]}")
    fi
    echo "== $revision ($(git -C "$tree" rev-parse --short HEAD)), load $(cut -d' ' -f1-3 /proc/loadavg)"
    started=$(date +%s.%N)
    (cd "$tree" && PYTHONPATH="$tree" "$PYTHON" -m pytest "${args[@]}" 2>&1 |
        grep -E "^(FAILED|ERROR) | in [0-9.]+s") || true
    echo "   wall $("$PYTHON" -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 1))" "$started") s"
done
