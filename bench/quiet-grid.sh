#!/usr/bin/env bash
# Used for BENCHMARKS.md: speed figures are taken with a running `dynalora bench glue` paused between two runs.
# Usage: bench/quiet-grid.sh begin; ...measure...; bench/quiet-grid.sh end
# begin: stop the grid's parent JVM, then wait until its running child run has finished (so no run is stretched).
# end: continue the parent.
parent=$(pgrep -f "bench glue" | head -1)
[ -z "$parent" ] && { echo "no grid"; exit 0; }
if [ "$1" = begin ]; then
  kill -STOP $parent
  while true; do
    live=0
    for c in $(pgrep -P $parent); do
      st=$(awk '{print $3}' /proc/$c/stat 2>/dev/null)
      [ -n "$st" ] && [ "$st" != Z ] && live=1
    done
    [ $live = 0 ] && break
    sleep 2
  done
  echo "quiet $(date +%T)"
else
  kill -CONT $parent; echo "resumed $(date +%T)"
fi
