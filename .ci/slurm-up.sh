#!/usr/bin/env bash
# A single-node SLURM cluster on localhost for tests/test_slurm.py, from Debian's packages
# (Slurm 22.05): munge, MariaDB + slurmdbd (accounting: the SLURM executor plugin polls
# `sacct`, and the test reads each job's record from it), slurmctld and slurmd.
#
# The node looks like a small real cluster: partitions `cpu` (default) and `gpu`, and one
# GPU (a fake GRES backed by /dev/null: it schedules and is accounted like a real one).
# Idempotent: a second call on a running cluster returns in well under a second.
#
#   .ci/slurm-up.sh          install (if needed), configure and start
#   .ci/slurm-up.sh stop     stop the daemons it started (by their pid files)
set -euo pipefail
start=$SECONDS

HOST=$(hostname -s)
LOGDIR=/var/log/slurm
RUNDIR=/run/slurm
DB_PASS=slurm-ci # local-only database user; MariaDB listens on the socket and 127.0.0.1

log() { echo "slurm-up: $*" >&2; }

stop() {
    local daemon pidfile
    for daemon in "$RUNDIR/slurmd.pid slurmd" "$RUNDIR/slurmctld.pid slurmctld" \
        "$RUNDIR/slurmdbd.pid slurmdbd" "/run/mysqld/mysqld.pid mariadbd" \
        "/run/munge/munged.pid munged"; do
        pidfile=${daemon% *}
        if running $daemon && kill "$(cat "$pidfile")" 2>/dev/null; then
            log "stopped ${daemon#* }"
        fi
    done
}

cluster_ready() {
    # the node is up and schedulable, and accounting answers
    [[ $(sinfo -h -n "$HOST" -o %t 2>/dev/null | head -1) =~ ^(idle|mix|alloc) ]] &&
        sacctmgr -n show cluster ci 2>/dev/null | grep -q ci
}

wait_for() { # <what> <seconds> <command...>
    local what=$1 seconds=$2
    shift 2
    for _ in $(seq $((seconds * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    log "$what did not come up in ${seconds}s; see $LOGDIR"
    tail -n 20 "$LOGDIR"/*.log >&2 || true
    return 1
}

# <pid file> <command name>: a pid file left by a machine that was stopped or restored can
# name a process that is alive but another one (a reused pid): check its name too
running() { [[ -s $1 ]] && [[ $(ps -o comm= -p "$(cat "$1")" 2>/dev/null) == "$2" ]]; }

if [[ ${1:-} == stop ]]; then
    stop
    exit 0
fi

# (sinfo retries for ~10 s when no slurmctld runs: ask it only when one does)
if running "$RUNDIR/slurmctld.pid" slurmctld && running "$RUNDIR/slurmd.pid" slurmd && cluster_ready; then
    log "already running ($(sinfo -h -o '%P %D %t' | tr '\n' ' '))"
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null ||
    ! command -v mariadbd >/dev/null; then
    log "installing slurm-wlm, slurmdbd, munge, mariadb-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >/dev/null
fi

mkdir -p "$LOGDIR" "$RUNDIR" /var/spool/slurmctld /var/spool/slurmd /run/munge /run/mysqld
chown slurm:slurm "$LOGDIR" "$RUNDIR" /var/spool/slurmctld
chown munge:munge /run/munge
chown mysql:mysql /run/mysqld

# --- configuration (rewritten on each start: it follows this machine's cores and memory)
CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
REAL_MEM=$((MEM_MB - 1024)) # leave the OS and the daemons some room
cat >/etc/slurm/slurm.conf <<EOF
ClusterName=ci
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default, one job would take the node's whole memory
DefMemPerCPU=1000
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$RUNDIR/slurmctld.pid
SlurmdPidFile=$RUNDIR/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
GresTypes=gpu
# accounting: every job's rule (--comment), partition and GPU request land in sacct
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGDIR/jobcomp.log
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MEM Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF
cat >/etc/slurm/gres.conf <<EOF
AutoDetect=off
NodeName=$HOST Name=gpu File=/dev/null
EOF
cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
LogFile=$LOGDIR/slurmdbd.log
PidFile=$RUNDIR/slurmdbd.pid
EOF
chown slurm:slurm /etc/slurm/slurmdbd.conf
chmod 600 /etc/slurm/slurmdbd.conf

# --- daemons, in dependency order; each is started only when not already running
if ! running /run/munge/munged.pid munged; then
    runuser -u munge -- /usr/sbin/munged
fi
wait_for munged 10 munge -n

if ! running /run/mysqld/mysqld.pid mariadbd; then
    runuser -u mysql -- /usr/sbin/mariadbd --pid-file=/run/mysqld/mysqld.pid \
        --socket=/run/mysqld/mysqld.sock >"$LOGDIR/mariadb.log" 2>&1 &
fi
wait_for mariadb 30 mariadb-admin --socket=/run/mysqld/mysqld.sock ping
mariadb --socket=/run/mysqld/mysqld.sock <<EOF
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF

if ! running "$RUNDIR/slurmdbd.pid" slurmdbd; then
    /usr/sbin/slurmdbd
fi
wait_for slurmdbd 30 sacctmgr -n show cluster

# the cluster, an account and this user must exist before slurmctld registers
sacctmgr -n show cluster ci | grep -q ci || sacctmgr -i add cluster ci >/dev/null
sacctmgr -n show account ci | grep -q ci ||
    sacctmgr -i add account ci Description=ci Organization=ci >/dev/null
sacctmgr -n show user "$(id -un)" | grep -q . ||
    sacctmgr -i add user "$(id -un)" Account=ci DefaultAccount=ci >/dev/null

if ! running "$RUNDIR/slurmctld.pid" slurmctld; then
    /usr/sbin/slurmctld -i
fi
wait_for slurmctld 30 scontrol ping
if ! running "$RUNDIR/slurmd.pid" slurmd; then
    /usr/sbin/slurmd
fi
# a node that was down (e.g. after a reboot) is returned to service
scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
wait_for "node $HOST" 30 cluster_ready
log "up in $((SECONDS - start))s: $(sinfo -h -o '%P %D %t %G' | tr '\n' ' ')"
