"""Talking to Slurm: the one call to sbatch, job states from squeue, sacct and scontrol, and one
table of what those states mean. Job ids are plain ("12") or array tasks ("22_3").

    job_id = sbatch("jobs/generated/demo/x.sh")                   # "12"
    array_id = sbatch("x-array.sh", "--array=3,7,12%2")           # "22": tasks 22_3, 22_7, 22_12
    queue_states(["12", "22_3"])  # {"22_3": "RUNNING"}: ids Slurm still knows; None if it cannot tell
    job_state("12")               # "COMPLETED", "UNKNOWN" (forgotten), or None (no Slurm here)
    max_array_size()              # MaxArraySize of `scontrol show config`, None when unreadable
    partition_max_time("gpu")     # (partition, MaxTime in s or None: unlimited); None when unreadable
    seconds("1-12:00:00"), slurm_time(129600)   # 129600, "1-12:00:00"
"""
import dataclasses
import os
import shutil
import subprocess

from .errors import UserError

# Slurm job states, grouped by what a user does next (squeue's %T and scontrol's JobState agree).
PENDING_STATES = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                            "RESV_DEL_HOLD"})
RUNNING_STATES = frozenset({"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT",
                            "RESIZING"})
# states after which a job no longer runs (any other state a listing shows counts as still active)
FINAL_STATES = frozenset({"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
                          "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT"})
FORGOTTEN = "UNKNOWN"  # the controller no longer knows the job (MinJobAge passed)
SQUEUE_CHUNK = 200     # job ids per squeue call: keeps the command line short


class SubmitError(UserError):
    """sbatch is missing or refused a job."""


def is_slurm_id(job_id):
    return str(job_id).replace("_", "").isdigit()


@dataclasses.dataclass(frozen=True)
class JobInfo:
    state: str
    elapsed: str | None = None   # [D-]H:MM:SS; None when unknown


def hms(seconds):
    """Seconds as [D-]H:MM:SS, the one format the job status shows elapsed times in."""
    seconds = int(round(seconds))
    days, rest = divmod(seconds, 86400)
    text = f"{rest // 3600}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def normal_elapsed(text):
    """squeue's %M (`M:SS`, `H:MM:SS`, `D-H:MM:SS`) or sacct's Elapsed as hms(); None if unreadable."""
    days, _, clock = text.strip().rpartition("-")
    parts = clock.split(":")
    if not (days.isdigit() or not days) or not all(p.isdigit() for p in parts) or not 1 <= len(parts) <= 3:
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return hms(seconds + 86400 * int(days or 0))


def base_id(job_id):
    """The id squeue and sacct are asked about: an array task's array job id ("22" of "22_3")."""
    return str(job_id).split("_")[0]


def sbatch(script, *options):
    """Submit one script from its own folder, with extra sbatch options (they override the
    script's #SBATCH lines); returns the job id. The only call to sbatch."""
    proc = subprocess.run(["sbatch", "--parsable", *options, script], capture_output=True, text=True,
                          cwd=os.path.dirname(script))
    job_id = proc.stdout.strip().split(";")[0]
    if proc.returncode != 0 or not job_id.isdigit():
        message = " ".join((proc.stderr.strip() or proc.stdout.strip() or
                            f"exit status {proc.returncode}").split())
        raise SubmitError(message)
    return job_id


def parse_squeue(stdout):
    """`squeue -h -o %i|%T[|%M]` (or `sacct -n -P -o JobID,State[,Elapsed]`) output -> {job id:
    JobInfo}. sacct's "CANCELLED by 0" is CANCELLED; tasks not started yet, which sacct (and squeue
    without -r) shows as one line `22_[2-5,7%2]`, get a line each."""
    info = {}
    for line in stdout.splitlines():
        if "|" in line:
            job_id, state, *rest = line.strip().split("|")
            elapsed = normal_elapsed(rest[0]) if rest else None
            for one in task_ids(job_id):
                info[one] = JobInfo(state.split()[0] if state.strip() else FORGOTTEN, elapsed)
    return info


def task_ids(job_id):
    """["22_2", "22_3", "22_7"] for "22_[2-3,7%2]"; [job_id] for any other id."""
    base, _, spec = job_id.partition("_[")
    if not spec.endswith("]"):
        return [job_id]
    out = []
    for part in spec[:-1].split("%")[0].split(","):
        first, _, last = part.partition("-")
        if not first.isdigit() or not (last.isdigit() or not last):
            return [job_id]
        out += [f"{base}_{i}" for i in range(int(first), int(last or first) + 1)]
    return out


def _ask(command, job_ids, forgotten_error):
    """{job id: JobInfo} of `command` + `-j <ids>` over every id's base id, in chunks; None when the
    command is missing or fails for another reason than ids it does not know."""
    if shutil.which(command[0]) is None:
        return None
    ids = sorted({base_id(i) for i in job_ids}, key=lambda i: (len(i), i))
    info = {}
    for start in range(0, len(ids), SQUEUE_CHUNK):
        chunk = ids[start:start + SQUEUE_CHUNK]
        try:
            proc = subprocess.run([*command, "-j", ",".join(chunk)], capture_output=True, text=True,
                                  timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if proc.returncode != 0:
            if forgotten_error in proc.stderr:  # every id of the chunk is forgotten
                continue
            return None
        info.update(parse_squeue(proc.stdout))
    return info


def squeue_info(job_ids):
    """{job id: JobInfo} of the jobs and array tasks the controller still knows (-r: one line per
    task, pending ones too); forgotten ids are absent; None when squeue cannot tell."""
    if not job_ids:
        return {}
    return _ask(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%M"], job_ids, "Invalid job id")


def sacct_info(job_ids):
    """{job id: JobInfo} from Slurm's accounting (it remembers jobs the controller forgot); None
    where accounting is off (`sacct` fails: "accounting storage is disabled")."""
    if not job_ids:
        return {}
    return _ask(["sacct", "-n", "-P", "-X", "-o", "JobID,State,Elapsed"], job_ids, "Invalid job id")


def queue_states(job_ids):
    """{job id: state} for the ids squeue still knows (forgotten ids are absent); from sacct when
    squeue cannot answer; None when neither can tell (not installed, controller unreachable)."""
    info = squeue_info(job_ids)
    if info is None:
        info = sacct_info(job_ids)
    return None if info is None else {job_id: i.state for job_id, i in info.items()}


def max_array_size():
    """MaxArraySize from `scontrol show config` (task indices stay below it), or None when it
    cannot be read (no scontrol, controller down)."""
    for line in (_scontrol("show", "config") or "").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize" and value.strip().isdigit():
            return int(value.strip())
    return None


def seconds(text):
    """A Slurm time (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S; config.schema.SLURM_TIME) in seconds."""
    days, _, clock = str(text).strip().rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days or len(parts) == 3:  # D-H, D-H:M, D-H:M:S, H:M:S
        h, m, s = (parts + [0, 0])[:3]
    else:                        # M, M:S
        h, m, s = 0, parts[0], (parts + [0])[1]
    return ((int(days or 0) * 24 + h) * 60 + m) * 60 + s


def slurm_time(total):
    """Seconds as a Slurm time, [D-]HH:MM:SS (what sbatch --time takes)."""
    days, rest = divmod(int(total), 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{text}" if days else text


def _scontrol(*words, timeout=20):
    """stdout of `scontrol WORDS`, or None when it cannot answer (not installed, controller down)."""
    if shutil.which("scontrol") is None:
        return None
    try:
        proc = subprocess.run(["scontrol", *words], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def partition_max_time(partition=None):
    """(partition name, its MaxTime in seconds or None when unlimited) of `partition` (None: the
    default partition) from `scontrol show partition -o`; None when Slurm cannot say."""
    for line in (_scontrol("show", "partition", "-o") or "").splitlines():
        fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
        name = fields.get("PartitionName")
        if name and (name == partition or (partition is None and fields.get("Default") == "YES")):
            limit = fields.get("MaxTime", "UNLIMITED")
            return name, None if limit in ("UNLIMITED", "INFINITE") else seconds(limit)
    return None


def job_state(job_id, timeout=20):
    """JobState of one Slurm job from `scontrol show job ID -o`; None when scontrol is not on PATH
    or the id is not a Slurm id (e.g. "local"); FORGOTTEN when Slurm no longer knows the job."""
    job_id = str(job_id)
    if not is_slurm_id(job_id) or shutil.which("scontrol") is None:
        return None
    try:
        p = subprocess.run(["scontrol", "show", "job", job_id, "-o"], capture_output=True,
                           text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for token in p.stdout.split():
        if token.startswith("JobState="):
            return token.split("=", 1)[1].rstrip("+")
    # "Invalid job id specified": the controller forgot the job (MinJobAge); anything else (the
    # controller is down) says nothing about the job.
    return FORGOTTEN if "invalid job id" in p.stderr.lower() else None


class Lookup:
    """States and elapsed times of many jobs at once, for a report: squeue for the jobs the
    controller still knows, sacct for the others where accounting runs. Called like job_state:
    lookup(job_id) -> state, FORGOTTEN (neither knows it) or None (neither could answer).

        lookup = Lookup(); lookup.prefetch(["12", "22_3"]); lookup("22_3"); lookup.info["12"].elapsed
    """

    def __init__(self):
        self.info = {}           # job id -> JobInfo
        self.answered = False    # squeue or sacct answered: an id absent from info is forgotten

    def prefetch(self, job_ids):
        ids = sorted({str(i) for i in job_ids if is_slurm_id(i)})
        queue = squeue_info(ids)
        missing = [i for i in ids if i not in (queue or {})]
        accounting = sacct_info(missing) if missing else {}
        self.answered = queue is not None or accounting is not None
        self.info = {**(accounting or {}), **(queue or {})}

    def __call__(self, job_id):
        job_id = str(job_id)
        if job_id in self.info:
            return self.info[job_id].state
        if base_id(job_id) in self.info:
            # the tasks of an array that never started share one record: "22" CANCELLED (scancel
            # before they ran) stands for every task of 22 that has no line of its own
            return self.info[base_id(job_id)].state
        if not is_slurm_id(job_id):
            return None
        return FORGOTTEN if self.answered else None
