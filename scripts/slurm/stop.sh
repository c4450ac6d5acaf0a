#!/usr/bin/env bash
# Stop the test cluster started by scripts/slurm/start.sh DIR: kill its daemons by the PIDs in DIR/run,
# wait until they are gone, remove the /etc/slurm/slurm.conf link that points into DIR, then remove DIR.
#
#   scripts/slurm/stop.sh DIR [--keep]     (--keep leaves DIR, e.g. to read the logs in DIR/log)
set -uo pipefail

[[ $# -ge 1 ]] || { echo "usage: $0 DIR [--keep]" >&2; exit 1; }
DIR=$(realpath -m "$1")
KEEP=${2:-}

# A PID file outlives its daemon; only signal a PID whose command line is still that daemon's.
stop_daemon() {
    local name=$1 pidfile=$DIR/run/$1.pid pid
    [[ -f $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$name"; then
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    echo "stop.sh: $name ($pid) ignored SIGTERM for 5 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
}

# Cancel what is still queued or running on this cluster, so no slurmstepd outlives the daemons.
if [[ -f $DIR/etc/slurm.conf ]] && [[ -f $DIR/run/slurmctld.pid ]]; then
    SLURM_CONF=$DIR/etc/slurm.conf timeout 10 scancel --quiet --user="$(id -un)" 2>/dev/null || true
fi

# slurmd first, so that it does not try to reach a controller that is gone; munged last.
stop_daemon slurmd
stop_daemon slurmctld
stop_daemon munged

if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$DIR/etc/slurm.conf" ]]; then
    rm -f /etc/slurm/slurm.conf
fi

if [[ $KEEP != --keep ]]; then
    rm -rf "$DIR"
fi
