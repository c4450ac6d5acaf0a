#!/usr/bin/env bash
# Start a throw-away single-node SLURM cluster on localhost, for testing `snakemake --profile slurm`.
#
#   scripts/slurm/start.sh DIR      (as root; DIR is created and holds everything the cluster writes)
#
# The node has one fake GPU (gres.conf `File=/dev/null`) and two partitions, `cpu` (default) and `gpu`.
# Everything the cluster writes stays in DIR except two things: the Debian packages (installed with
# apt-get when missing) and a symlink /etc/slurm/slurm.conf -> DIR/etc/slurm.conf. The link is needed:
# inside a job, snakemake-executor-plugin-slurm-jobstep starts `srun` with every SLURM_* variable
# removed, SLURM_CONF included, so srun only finds the default path. start.sh refuses to replace a
# real /etc/slurm/slurm.conf (a file, or a link that is not one of ours); stop.sh removes the link.
# Munge runs with a private key and socket, so a system munged is left alone.
# DIR/run/*.pid hold the daemons' PIDs for scripts/slurm/stop.sh; DIR/log has their logs.
#
# Environment: NEUROGAZE_SLURM_PORT (default 6817): slurmctld's port; slurmd uses the next one.
set -euo pipefail

die() { echo "start.sh: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 DIR"
[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts slurmd)"

DIR=$(realpath -m "$1")
CTLD_PORT=${NEUROGAZE_SLURM_PORT:-6817}
SLURMD_PORT=$((CTLD_PORT + 1))

install_packages() {
    local missing=0
    for exe in slurmctld slurmd sbatch munged mungekey; do
        command -v "$exe" >/dev/null || missing=1
    done
    [[ $missing -eq 0 ]] && return
    command -v apt-get >/dev/null || die "SLURM is not installed and apt-get is unavailable"
    echo "start.sh: installing slurmctld slurmd slurm-client munge with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be missing on a fresh machine; install first, update only if that fails.
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 || {
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
    }
}

write_config() {
    local host cpus sockets cores threads mem
    host=$(hostname -s)
    # `slurmd -C` describes this machine; RealMemory above what slurmd measures drains the node, so 90 %.
    local node_line
    node_line=$(slurmd -C | head -n 1)
    cpus=$(grep -o 'CPUs=[0-9]*' <<<"$node_line" | cut -d= -f2)
    sockets=$(grep -o 'SocketsPerBoard=[0-9]*' <<<"$node_line" | cut -d= -f2)
    cores=$(grep -o 'CoresPerSocket=[0-9]*' <<<"$node_line" | cut -d= -f2)
    threads=$(grep -o 'ThreadsPerCore=[0-9]*' <<<"$node_line" | cut -d= -f2)
    mem=$(grep -o 'RealMemory=[0-9]*' <<<"$node_line" | cut -d= -f2)
    mem=$((mem * 9 / 10))

    cat >"$DIR/etc/slurm.conf" <<EOF
# Single-node test cluster $MARKER; everything lives under $DIR.
ClusterName=neurogaze-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# No cgroups and no systemd in containers.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# No slurmdbd: sacct cannot answer, so the profile polls with squeue, which needs finished jobs to stay
# visible for MinJobAge >= 3 x slurm-init-seconds-before-status-checks.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=300
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
ReturnToService=2
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus SocketsPerBoard=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host Default=NO MaxTime=INFINITE State=UP
EOF
    # slurmd accepts any character device as a GPU file; /dev/null stands in for /dev/nvidia0.
    cat >"$DIR/etc/gres.conf" <<EOF
NodeName=$host Name=gpu File=/dev/null
EOF
}

# The marker line lets a later start.sh recognise (and replace) a link left by a run that was killed.
MARKER="written by scripts/slurm/start.sh"
SYSTEM_CONF=/etc/slurm/slurm.conf

link_system_config() {
    if [[ -e $SYSTEM_CONF || -L $SYSTEM_CONF ]]; then
        if [[ ! -L $SYSTEM_CONF ]]; then
            die "$SYSTEM_CONF exists and is not a test-cluster link; this machine has a real SLURM setup"
        fi
        if [[ -e $SYSTEM_CONF ]] && ! grep -q "$MARKER" "$SYSTEM_CONF"; then
            die "$SYSTEM_CONF links to $(readlink "$SYSTEM_CONF"), which is not a test-cluster config"
        fi
        local other_pidfile
        other_pidfile=$(dirname "$(dirname "$(readlink "$SYSTEM_CONF")")")/run/slurmctld.pid
        if [[ -f $other_pidfile ]] && kill -0 "$(cat "$other_pidfile")" 2>/dev/null; then
            die "another test cluster is running ($(readlink "$SYSTEM_CONF")); stop it with stop.sh first"
        fi
    fi
    mkdir -p "$(dirname "$SYSTEM_CONF")"
    ln -sfn "$DIR/etc/slurm.conf" "$SYSTEM_CONF"
}

wait_for_idle() {
    local host state
    host=$(hostname -s)
    for _ in $(seq 1 100); do
        state=$(sinfo -h -n "$host" -o %t 2>/dev/null | head -n 1 || true)
        if [[ $state == idle ]]; then
            return 0
        fi
        sleep 0.2
    done
    echo "start.sh: node state '$state' after 20 s; logs follow" >&2
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    return 1
}

install_packages
# Stale state from an earlier run (jobs, node states) confuses a fresh slurmctld.
rm -rf "$DIR/state" "$DIR/spool" "$DIR/run" "$DIR/munge"
mkdir -p "$DIR"/{etc,state,spool,run,log,munge}
# munged insists that every directory above its socket is searchable by all users.
chmod 0755 "$DIR" "$DIR/munge"
write_config
link_system_config

mungekey --create --keyfile="$DIR/munge/munge.key" >/dev/null
munged --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed"

slurmctld -f "$DIR/etc/slurm.conf"
slurmd -f "$DIR/etc/slurm.conf"
wait_for_idle || die "the node did not become idle"
echo "start.sh: cluster up (sinfo, squeue, sbatch and snakemake --profile slurm now use it)" >&2
