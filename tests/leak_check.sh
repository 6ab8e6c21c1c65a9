#!/bin/sh
# baseline FILE: records the System V objects present before the suite.
# check FILE:    fails when the suite left anything of ours: names starting with ipckit-t
#                in /dev/shm, /dev/mqueue or /tmp, or System V objects that were not there.
set -eu
mode=$1 file=$2
sysv_ids() { ipcs -m -q -s 2>/dev/null | awk '$2 ~ /^[0-9]+$/ {print $2}' | sort; }
case $mode in
  baseline) sysv_ids > "$file" ;;
  check)
    left=$(ls -d /dev/shm/ipckit-t* /dev/mqueue/ipckit-t* /tmp/ipckit-t* 2>/dev/null || true)
    new=$(sysv_ids | comm -13 "$file" - || true)
    status=0
    if [ -n "$left" ]; then echo "left behind by the tests:"; echo "$left"; status=1; fi
    if [ -n "$new" ]; then echo "System V objects made during the suite and not removed (ids):"; echo "$new"; ipcs; status=1; fi
    [ $status -eq 0 ] && echo "nothing left behind"
    exit $status ;;
  *) echo "usage: leak_check.sh baseline|check FILE" >&2; exit 2 ;;
esac
