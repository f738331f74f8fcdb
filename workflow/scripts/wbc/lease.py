"""A job's lease on its outputs, so that no two jobs ever write the same results.

A job outlives its Snakemake when Snakemake is killed (``kill -9``, a closed terminal on a
login node): the job runs on, and after ``snakemake --unlock`` a rerun would start a second
job for the same outputs, whose results the first one's would later replace. So each job
takes a lease on its outputs (``.snakemake/wbc-leases/``) and writes them under temporary
names, which become the real ones only at its end, while the lease is still its own:

- a job whose outputs are leased to a running job stops at once, naming that job's host
  and PID (or SLURM job), and revokes that lease, so the older job discards its results;
- a lease held by a dead job (same host: its PID is gone; another host: no heartbeat for
  ``STALE`` seconds, or SLURM no longer lists its job) is taken over, and the dead job's
  temporary outputs deleted.

A temporary name keeps the output's file name, in a hidden folder beside it
(``results/qc/.staged-1a2b3c4d/crops.tsv``): Keras and matplotlib read the format from the
suffix, and a file that names another output of the job by its file name stays right.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

LEASES = Path(".snakemake") / "wbc-leases"
HEARTBEAT = 30  # seconds between a running job's refreshes of its lease
STALE = 300  # seconds without a refresh after which a lease on another host is dead
STAGING_PREFIX = ".staged-"


class LeaseError(Exception):
    """The job may not write its outputs: another job holds them, or took them over."""


class Lease:
    """A job's claim on its outputs: a JSON file of its host, PID and start, refreshed
    by a heartbeat, and the temporary names of its outputs."""

    def __init__(self, rule: str, outputs: list[str]):
        key = hashlib.sha1("\0".join(sorted(outputs)).encode("utf-8", "surrogateescape"))
        self.rule, self.outputs = rule, outputs
        self.path = LEASES / f"{rule}-{key.hexdigest()[:12]}.json"
        self.token = uuid.uuid4().hex
        self.staging = _staging_folder(outputs, self.token)
        self.staged = {
            out: str(self.staging / os.path.relpath(out, self.staging.parent)) for out in outputs
        }
        self.me = {
            "rule": rule,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "process_start": _process_start(os.getpid()),
            "slurm_job": os.environ.get("SLURM_JOB_ID"),
            "started": datetime.now().isoformat(timespec="seconds"),
            "token": self.token,
            "staged": list(self.staged.values()),
        }
        self.staged_bytes = 0  # what the job had written when it ended (see release)
        self._stop = threading.Event()

    def acquire(self) -> None:
        """Take the lease, or stop naming the running job that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        holder = self._read()
        if holder is not None and self._running(holder):
            self._write({**holder, "revoked_by": self._whoami()})
            raise LeaseError(self._refusal(holder))
        if holder is not None:  # a dead job's: its half-written outputs go
            for leftover in map(Path, holder.get("staged", [])):
                for folder in leftover.parents:
                    if folder.name.startswith(STAGING_PREFIX):  # ours only
                        _remove(folder)
        self._write(self.me)
        if not self.ours():  # another job took it in the same instant
            raise LeaseError(f"rule {self.rule}: another job took these outputs; run again")
        threading.Thread(target=self._beat, daemon=True).start()

    def staged_output(self, output):
        """``output`` (Snakemake's named list) with the temporary names."""
        for staged in self.staged.values():
            Path(staged).parent.mkdir(parents=True, exist_ok=True)  # as Snakemake does
        return type(output)(toclone=output, custom_map=lambda out: self.staged[out])

    def publish(self) -> None:
        """Give the outputs their real names, if the lease is still this job's."""
        if not self.ours():
            raise LeaseError(self.discarded())
        for final, staged in self.staged.items():
            if Path(staged).exists() or Path(staged).is_symlink():
                if Path(final).is_dir() and not Path(final).is_symlink():
                    shutil.rmtree(final)  # a folder cannot be renamed over a full one
                os.replace(staged, final)

    def discarded(self) -> str:
        """The one line of a job whose outputs a newer run took over while it ran."""
        holder = self._read() or {}
        taker = holder.get("revoked_by") or holder
        return (
            f"rule {self.rule}: results discarded: a newer run (PID {taker.get('pid')} "
            f"on host {taker.get('host')}) took over these outputs while this job ran"
        )

    def release(self) -> None:
        self._stop.set()
        for staged in map(Path, self.staged.values()):  # left only by a failure
            self.staged_bytes += _bytes(staged)
        _remove(self.staging)
        if self.ours():
            self.path.unlink(missing_ok=True)

    def ours(self) -> bool:
        holder = self._read()
        return (
            holder is not None and holder.get("token") == self.token and "revoked_by" not in holder
        )

    # --- the lease file ------------------------------------------------------------------

    def _read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):  # none, or half-written by a job killed while writing
            return None

    def _write(self, content: dict) -> None:
        partial = self.path.with_name(f".{self.path.name}.{self.token}")
        partial.write_text(json.dumps(content, indent=1))
        os.replace(partial, self.path)

    def _beat(self) -> None:
        """Refresh the lease's time while the job runs: how other hosts see it alive."""
        while not self._stop.wait(HEARTBEAT):
            if self.ours():
                with contextlib.suppress(OSError):  # taken over in the meantime
                    os.utime(self.path)

    def _whoami(self) -> dict:
        return {k: self.me[k] for k in ("host", "pid", "slurm_job", "started")}

    def _running(self, holder: dict) -> bool:
        """Whether the job holding the lease still runs."""
        if holder.get("host") == socket.gethostname():
            return _pid_alive(holder.get("pid", 0), holder.get("process_start"))
        if holder.get("slurm_job") and shutil.which("squeue"):
            listed = subprocess.run(
                ["squeue", "--noheader", "--jobs", str(holder["slurm_job"]), "--format", "%T"],
                capture_output=True,
                text=True,
            )
            if listed.returncode == 0:
                return bool(listed.stdout.strip())
        try:
            return time.time() - self.path.stat().st_mtime < STALE
        except OSError:
            return False

    def _refusal(self, holder: dict) -> str:
        host, pid, job = holder.get("host"), holder.get("pid"), holder.get("slurm_job")
        if job:
            stop = f"scancel {job}"
        elif host == socket.gethostname():
            stop = f"kill {pid}"
        else:
            stop = f"ssh {host} kill {pid}"
        return (
            f"rule {self.rule}: an earlier job for the same outputs is still running, "
            f"PID {pid} on host {host}{f' (SLURM job {job})' if job else ''}, started "
            f"{holder.get('started')} (left running by a killed Snakemake?): stop it "
            f"({stop}) and run again; it will not write its results"
        )


def _staging_folder(outputs: list[str], token: str) -> Path:
    """The job's hidden folder for its outputs' temporary copies, in the folder that holds
    them all (the same disk, so the final rename is atomic), e.g. the staged name of
    ``results/report/figures/rf/roc.png`` is ``results/report/.staged-1a2b3c4d/figures/rf/
    roc.png``: the outputs keep their file names, and their paths relative to each other."""
    try:
        common = os.path.commonpath([os.path.dirname(os.path.normpath(o)) for o in outputs])
    except ValueError:  # none, or absolute and relative paths mixed
        common = ""
    return Path(common or ".") / f"{STAGING_PREFIX}{token[:8]}"


def _bytes(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.is_file() else 0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _process_start(pid: int) -> str | None:
    """When a process started (Linux: clock ticks since boot), to tell a PID reused by a
    later process from the one that took the lease; None where /proc has no answer."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int, process_start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True  # no /proc (macOS): the PID exists
    if state == "Z":  # finished, not yet reaped
        return False
    return process_start is None or _process_start(pid) == process_start
