#!/usr/bin/env bash
# A real single-node Slurm on this machine (controller + compute daemon on localhost), for the tests and
# for trying the job generators without a cluster.
#
#   scripts/local-slurm.sh start    # install from Debian packages if missing, configure, start; waits
#                                   # until the node is idle. Already running: says so, exits 0.
#   scripts/local-slurm.sh status   # exit 0 when the cluster is up (prints sinfo), 3 when it is not
#   scripts/local-slurm.sh stop     # stop the daemons it started (by pid file); not running: exit 0
#
# Needs root (apt-get, munge, /etc/slurm). No systemd, no cgroups, no accounting database.
# Environment:
#   LOCAL_SLURM_DIR    state, spool, logs, pid files (default /tmp/ipa-finetune-slurm)
#   LOCAL_SLURM_CPUS   CPUs the node advertises (default: nproc). More than the machine has is allowed
#                      (SlurmdParameters=config_overrides) so realistic templates run here.
#   LOCAL_SLURM_GPUS   fake GPUs (symlinks to /dev/null) the node advertises (default 1), so scripts with
#                      `#SBATCH --gpus=N` are accepted; jobs then see CUDA_VISIBLE_DEVICES but no GPU.
#   LOCAL_SLURM_EXTRA  extra slurm.conf lines, e.g. "MaxArraySize=5" (one setting per line)
#
# A second, independent cluster beside the first (its own controller, node daemon, state, ports and
# slurm.conf; the same munge): set SLURM_CONF to a file of its own, which is written instead of
# /etc/slurm/slurm.conf (gres.conf beside it), plus its own LOCAL_SLURM_DIR and LOCAL_SLURM_PORT_BASE
# (SlurmctldPort = base, SlurmdPort = base + 1; the first cluster has Slurm's 6817 and 6818). Every
# Slurm command run with that SLURM_CONF in its environment talks to the second cluster:
#   export SLURM_CONF=/tmp/s2/slurm.conf LOCAL_SLURM_DIR=/tmp/s2 LOCAL_SLURM_PORT_BASE=7817
#   LOCAL_SLURM_EXTRA="MaxArraySize=5" scripts/local-slurm.sh start; sbatch ...; scripts/local-slurm.sh stop
# A second cluster leaves munge running when it stops (the first cluster may still need it).
# Facts behind each slurm.conf line: shared/notes/local-slurm.md.
set -euo pipefail

DIR="${LOCAL_SLURM_DIR:-/tmp/ipa-finetune-slurm}"
CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
GRES_CONF="$(dirname "$CONF")/gres.conf"
SECOND=0   # 1: a cluster of its own beside the first (SLURM_CONF set)
[ -n "${SLURM_CONF:-}" ] && [ "$CONF" != /etc/slurm/slurm.conf ] && SECOND=1
PORT_BASE="${LOCAL_SLURM_PORT_BASE:-}"
if [ "$SECOND" = 1 ] && [ -z "$PORT_BASE" ]; then
  echo "local-slurm: error: with SLURM_CONF=$CONF, set LOCAL_SLURM_PORT_BASE too (e.g. 7817): the first cluster has the default ports" >&2
  exit 2
fi
export SLURM_CONF="$CONF"   # sinfo, sbatch, scontrol below talk to this cluster
MARKER="# written by ipa-finetune scripts/local-slurm.sh"
PARTITION=local
CPUS="${LOCAL_SLURM_CPUS:-$(nproc)}"
GPUS="${LOCAL_SLURM_GPUS:-1}"

log() { echo "local-slurm: $*" >&2; }
die() { log "error: $*"; exit 1; }

# A pid is alive when /proc says so and it is not a zombie (PID 1 reaps slowly on these machines).
alive() {
  local pid="$1"
  [ -n "$pid" ] && [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"
}
pid_from() { [ -r "$1" ] && tr -dc '0-9' <"$1" || true; }

install_packages() {
  local missing=0
  for cmd in slurmctld slurmd sbatch sinfo munged; do
    command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing=1
  done
  [ "$missing" = 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "Slurm is not installed and installing needs root (apt-get)"
  log "installing slurmctld slurmd slurm-client munge from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # the postinst scripts print 'invoke-rc.d ... policy-rc.d denied': harmless, we start the daemons
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 \
    || die "apt-get install slurmctld slurmd slurm-client munge failed"
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  install -d -o munge -g munge -m 0755 /run/munge
  # --force gets past a stale socket left by a killed munged
  runuser -u munge -- /usr/sbin/munged --force
  [ "$SECOND" = 1 ] || touch "$DIR/munge-started-by-us"
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "munged did not start"
}

write_conf() {
  if [ -e "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
    die "$CONF exists and was not written by this script; not touching a real cluster's config"
  fi
  local mem
  mem=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  mkdir -p "$DIR"/{state,spool,log,run} "$(dirname "$CONF")"
  local ports="" name=ipa-finetune-local
  if [ -n "$PORT_BASE" ]; then
    ports="SlurmctldPort=$PORT_BASE
SlurmdPort=$((PORT_BASE + 1))"
    name="ipa-finetune-local-$PORT_BASE"
  fi
  local gres_node="" gres_types=""
  if [ "$GPUS" -gt 0 ]; then
    # fake GPUs: gres needs File= entries and they must be device-like (regular files are rejected)
    for i in $(seq 0 $((GPUS - 1))); do ln -sfn /dev/null "$DIR/fakegpu$i"; done
    gres_node=" Gres=gpu:$GPUS"
    gres_types="GresTypes=gpu"
    local files="$DIR/fakegpu0"
    [ "$GPUS" -gt 1 ] && files="$DIR/fakegpu[0-$((GPUS - 1))]"
    printf '%s\nNodeName=localhost Name=gpu File=%s\n' "$MARKER" "$files" >"$GRES_CONF.tmp"
    mv "$GRES_CONF.tmp" "$GRES_CONF"
  else
    rm -f "$GRES_CONF"
  fi
  cat >"$CONF.tmp" <<EOF
$MARKER
ClusterName=$name
$ports
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# no cgroups on these machines
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it a job without --mem takes the whole node's memory and jobs run one at a time
DefMemPerCPU=256
# each job ~1 s instead of ~3 s
SchedulerParameters=batch_sched_delay=0
# reject impossible requests at submit time instead of leaving them PENDING forever
EnforcePartLimits=ALL
# let the node advertise more CPUs/GPUs than it has, so realistic templates run here
SlurmdParameters=config_overrides
# finished jobs stay visible to scontrol for an hour
MinJobAge=3600
KillWait=2
MailProg=/bin/true
ReturnToService=2
$gres_types
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS Sockets=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$mem$gres_node State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
${LOCAL_SLURM_EXTRA:-}
EOF
  mv "$CONF.tmp" "$CONF"
}

running() {
  alive "$(pid_from "$DIR/run/slurmctld.pid")" && alive "$(pid_from "$DIR/run/slurmd.pid")"
}

wait_idle() {
  for _ in $(seq 300); do
    local state
    state=$(sinfo -h -N -o '%T' 2>/dev/null || true)
    case "$state" in idle*|mixed*|allocated*) return 0 ;; esac
    sleep 0.1
  done
  sinfo -N >&2 || true
  die "the node did not become idle within 30 s; see $DIR/log/"
}

cmd_start() {
  install_packages
  mkdir -p "$DIR"
  if running; then
    wait_idle
    log "already running (partition '$PARTITION', state in $DIR)"
    return 0
  fi
  cmd_stop >/dev/null 2>&1 || true   # half-started leftovers
  start_munge
  write_conf
  /usr/sbin/slurmctld -f "$CONF"
  /usr/sbin/slurmd -f "$CONF" -N localhost
  wait_idle
  # the scheduler's first pass comes ~3 s after the controller starts: pay it here, not in a test
  # (sbatch --wait polls too slowly: watch the job ourselves)
  local id
  id=$(sbatch --parsable -o /dev/null -J warm-up --wrap=true 2>/dev/null) || log "warning: warm-up job not accepted"
  for _ in $(seq 200); do
    [ -z "$id" ] && break
    case "$(scontrol show job "$id" -o 2>/dev/null || true)" in *JobState=COMPLETED*) break ;; esac
    sleep 0.1
  done
  log "started: partition '$PARTITION', $CPUS CPUs, $GPUS fake GPUs, state in $DIR, config $CONF"
}

stop_pid_file() {
  local pid
  pid=$(pid_from "$1")
  alive "$pid" || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do alive "$pid" || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

cmd_stop() {
  stop_pid_file "$DIR/run/slurmd.pid"
  stop_pid_file "$DIR/run/slurmctld.pid"
  if [ -e "$DIR/munge-started-by-us" ]; then
    stop_pid_file /run/munge/munged.pid
    rm -f "$DIR/munge-started-by-us"
  fi
  log "stopped"
}

cmd_status() {
  if running; then
    sinfo
    return 0
  fi
  log "not running"
  return 3
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
