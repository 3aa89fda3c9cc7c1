#!/usr/bin/env bash
# Bring up a one-node SLURM cluster on this machine (for tests/test_slurm.py with the shipped profiles/slurm).
#
#   sudo bash .ci/slurm-up.sh          # idempotent: safe to run again; ~15-30 s on a fresh Debian machine
#
# What it does (Debian/Ubuntu, as root):
#   1. installs slurm-wlm + munge with apt-get if slurmctld/slurmd/sbatch/munged are missing;
#   2. writes /etc/slurm/slurm.conf for this one node (the plugin's `srun` inside each batch job only finds
#      the config there: SLURM_CONF is not seen by it);
#   3. creates a munge key if there is none and starts munged, slurmctld and slurmd (all as root, no
#      systemd needed);
#   4. waits until `sinfo` shows the node idle (or already busy with jobs).
# A daemon that is already running with the same config is left alone; if the config changed, the daemons
# this script started (found by their pid files) are restarted.
#
# The cluster: partition "main" (default), one node named after this host with CPUs = nproc and RealMemory =
# 80% of the machine's memory, no accounting (sacct does not work: use the squeue status command),
# MinJobAge=600 so finished jobs stay visible to squeue for 10 minutes.
#
# Environment knobs:
#   ARCHSSL_SLURM_DIR      state/spool/log folder (default /tmp/archssl-slurm)
#   ARCHSSL_SLURM_MEM_MB   node RealMemory in MB (default 80% of MemTotal)
#   ARCHSSL_SLURM_TIMEOUT  seconds to wait for the node to become usable (default 60)
set -euo pipefail

PARTITION=main
STATE_DIR=${ARCHSSL_SLURM_DIR:-/tmp/archssl-slurm}
CONF=/etc/slurm/slurm.conf
WAIT_S=${ARCHSSL_SLURM_TIMEOUT:-60}
T0=$(date +%s)

log() { echo "slurm-up: $*" >&2; }
die() {
    echo "slurm-up: ERROR: $*" >&2
    for f in "$STATE_DIR"/log/slurmctld.log "$STATE_DIR"/log/slurmd.log "$STATE_DIR"/log/munged.log; do
        [[ -s $f ]] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }
    done
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages, writes /etc/slurm and starts daemons as root)"

# --- 1. packages -------------------------------------------------------------------------------------------
need_install=0
for b in slurmctld slurmd sbatch srun squeue sinfo scontrol munged; do
    command -v "$b" >/dev/null 2>&1 || [[ -x /usr/sbin/$b ]] || need_install=1
done
if ((need_install)); then
    command -v apt-get >/dev/null || die "slurm/munge are not installed and apt-get is not available"
    log "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # keep the packages' maintainer scripts from starting services (no systemd here; we start them below)
    policy_created=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_created=1
    fi
    apt_opts=(-q -y -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    rc=0
    timeout 240 apt-get "${apt_opts[@]}" update >/tmp/slurm-up-apt.log 2>&1 || rc=$?
    if ((rc == 0)); then
        timeout 300 apt-get "${apt_opts[@]}" install --no-install-recommends slurm-wlm munge \
            >>/tmp/slurm-up-apt.log 2>&1 || rc=$?
    fi
    ((policy_created)) && rm -f /usr/sbin/policy-rc.d
    if ((rc != 0)); then
        tail -n 20 /tmp/slurm-up-apt.log >&2
        die "apt-get failed (exit $rc; 124 = timed out); full log in /tmp/slurm-up-apt.log"
    fi
    log "packages installed ($(($(date +%s) - T0)) s)"
fi
export PATH=$PATH:/usr/sbin:/sbin

# --- 2. slurm.conf -----------------------------------------------------------------------------------------
NODE=$(hostname -s 2>/dev/null || uname -n | cut -d. -f1)
CPUS=$(nproc)
MEM_TOTAL_MB=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
MEM_MB=${ARCHSSL_SLURM_MEM_MB:-$((MEM_TOTAL_MB * 8 / 10))}
mkdir -p /etc/slurm "$STATE_DIR"/{state,spool,log,run}
chmod 755 "$STATE_DIR"

new_conf=$(cat <<EOF
# Written by archssl .ci/slurm-up.sh: a one-node test cluster (no accounting, no cgroups).
ClusterName=archssl
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
KillWait=5
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/run/slurmctld.pid
SlurmdPidFile=$STATE_DIR/run/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
)
conf_changed=0
if [[ ! -f $CONF ]] || [[ "$(cat "$CONF")" != "$new_conf" ]]; then
    [[ -f $CONF ]] && cp "$CONF" "$CONF.bak"
    printf '%s\n' "$new_conf" >"$CONF"
    conf_changed=1
    log "wrote $CONF (node $NODE: $CPUS CPUs, $MEM_MB MB; partition $PARTITION)"
fi

# --- 3. daemons --------------------------------------------------------------------------------------------
alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

no_stray() {  # a daemon of this name that this script did not start (no pid file) would hold the ports
    local name=$1
    for _ in $(seq 100); do  # one that is shutting down (its pid file already gone) gets 10 s to exit
        pgrep -x "$name" >/dev/null || return 0
        sleep 0.1
    done
    die "a $name not started by this script is running (pid $(pgrep -x "$name" | tr '\n' ' ')); stop it first"
}

stop() {  # stop one daemon by its pid file (only what this script started)
    local pidfile=$1 pid
    alive "$pidfile" || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

# munge
MUNGE_PID=/run/munge/munged.pid
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating a munge key"
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
fi
if id munge >/dev/null 2>&1; then
    chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge
fi
chmod 700 /etc/munge
chmod 400 /etc/munge/munge.key
if ! alive "$MUNGE_PID" || ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    stop "$MUNGE_PID"
    log "starting munged"
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- munged --pid-file="$MUNGE_PID" --log-file=/var/log/munge/munged.log \
            || die "munged failed to start (see /var/log/munge/munged.log)"
    else
        munged --force --pid-file="$MUNGE_PID" || die "munged failed to start"
    fi
    for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n </dev/null | unmunge >/dev/null || die "munge does not work (munge -n | unmunge failed)"
fi

CTLD_PID=$STATE_DIR/run/slurmctld.pid
SLURMD_PID=$STATE_DIR/run/slurmd.pid
if ((conf_changed)); then
    stop "$SLURMD_PID"
    stop "$CTLD_PID"
fi
if ! alive "$CTLD_PID"; then
    no_stray slurmctld
    log "starting slurmctld"
    # -i: ignore state files that do not match this config (e.g. left by an older run)
    slurmctld -i || die "slurmctld failed to start"
fi
if ! alive "$SLURMD_PID"; then
    no_stray slurmd
    log "starting slurmd"
    slurmd || die "slurmd failed to start"
fi

# --- 4. wait for the node ----------------------------------------------------------------------------------
deadline=$(($(date +%s) + WAIT_S))
state=""
while (($(date +%s) < deadline)); do
    state=$(timeout 5 sinfo -h -n "$NODE" -o %t 2>/dev/null | head -n1 || true)
    case $state in
        idle | mix | alloc | comp)
            log "node $NODE is $state; partition $PARTITION up ($(($(date +%s) - T0)) s)"
            sinfo >&2
            exit 0
            ;;
        drain* | drng* | down* | fail* | inval*)
            # e.g. left drained by an earlier run, or "Node unexpectedly rebooted"
            scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 ||
                scontrol update nodename="$NODE" state=idle >/dev/null 2>&1 || true
            ;;
    esac
    alive "$CTLD_PID" || die "slurmctld died"
    alive "$SLURMD_PID" || die "slurmd died"
    sleep 0.5
done
die "node $NODE not usable after ${WAIT_S}s (sinfo state: '${state:-no answer}')"
