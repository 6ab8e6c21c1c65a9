#!/bin/sh
# baseline FILE: records the System V objects present before the suite.
# check FILE:    fails when the suite left anything of ours: names starting with ipckit-t
#                in /dev/shm (sem.ipckit-t* for named semaphores, ipckit-ch-ipckit-t* for
#                shm:// channels), /dev/mqueue or /tmp, or
#                System V objects (shm, msg, sem) that were not there, network namespaces
#                named ipckit-t* (the channel test across two hosts), or abstract sockets
#                named @ipckit-t* (they vanish with their process: one left means a test
#                process is still running).
# POSIX message queues are visible only through the mqueue filesystem, which this machine
# does not mount by default: when /dev/mqueue is not mounted, they are listed from a private
# mount of it (unshare -m, as root), which leaves the host's mounts alone.
set -eu
mode=$1 file=$2
sysv_ids() {
  for kind in m q s; do
    ipcs -$kind 2>/dev/null | awk -v k=$kind '$2 ~ /^[0-9]+$/ {print k $2}'
  done | sort
}
mqueues() {
  if mountpoint -q /dev/mqueue 2>/dev/null; then
    ls /dev/mqueue
  elif command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
    # /dev/mqueue may not even exist: mount a scratch tmpfs first, all inside the namespace.
    unshare -m sh -c 'mount -t tmpfs none /mnt && mkdir /mnt/mq && mount -t mqueue none /mnt/mq && ls /mnt/mq'
  fi
}
case $mode in
  baseline) sysv_ids > "$file" ;;
  check)
    left=$(ls -d /dev/shm/ipckit-t* /dev/shm/ipckit-ch-ipckit-t* /dev/shm/sem.ipckit-t* /tmp/ipckit-t* 2>/dev/null || true)
    mq_left=$(mqueues | grep '^ipckit-t' || true)
    new=$(sysv_ids | comm -13 "$file" - || true)
    ns_left=$(ip netns list 2>/dev/null | awk '$1 ~ /^ipckit-t/ {print $1}' || true)
    sock_left=$(awk '$8 ~ /^@ipckit-t/ {print $8}' /proc/net/unix 2>/dev/null || true)
    status=0
    if [ -n "$left" ]; then echo "left behind by the tests:"; echo "$left"; status=1; fi
    if [ -n "$mq_left" ]; then echo "POSIX message queues left behind:"; echo "$mq_left"; status=1; fi
    if [ -n "$ns_left" ]; then echo "network namespaces left behind:"; echo "$ns_left"; status=1; fi
    if [ -n "$sock_left" ]; then echo "abstract sockets still bound (a test process still runs?):"; echo "$sock_left"; status=1; fi
    if [ -n "$new" ]; then echo "System V objects made during the suite and not removed (m/q/s + id):"; echo "$new"; ipcs; status=1; fi
    [ $status -eq 0 ] && echo "nothing left behind"
    exit $status ;;
  *) echo "usage: leak_check.sh baseline|check FILE" >&2; exit 2 ;;
esac
