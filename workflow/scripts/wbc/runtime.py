"""What every rule script shares: logging into the rule's log file, one-line errors, and a
lease on the job's outputs, so that no two jobs ever write the same results.

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
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

LEASES = Path(".snakemake") / "wbc-leases"
HEARTBEAT = 30  # seconds between a running job's refreshes of its lease
STALE = 300  # seconds without a refresh after which a lease on another host is dead


class UserError(Exception):
    """Bad input or configuration: the message names the file or key and the fix."""


def run_rule(main: Callable[[], None], snakemake) -> None:
    """Run a rule script's body under a lease on the job's outputs, with logging sent to
    the rule's log file.

    ``main`` writes ``snakemake.output``, which names temporary files here; they replace
    the real outputs once ``main`` returns. A ``UserError`` ends the job with its one-line
    message on stderr (the terminal) and in the log; any other failure leaves its
    traceback in the log. Either way no output is written.
    """
    _log_to(snakemake.log[0] if snakemake.log else None)
    lease = Lease(snakemake.rule, list(snakemake.output))
    try:
        lease.acquire()
        try:
            snakemake.output = lease.staged_output(snakemake.output)
            main()
            lease.publish()
        finally:
            lease.release()
    except UserError as err:
        logging.error("%s", err)
        sys.exit(1)
    except Exception:
        logging.error("unexpected failure:\n%s", traceback.format_exc())
        sys.exit(1)


_LOG_PATH: list[str] = []  # the running job's log file, once run_rule has set it up


def _log_to(log_path: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
        _LOG_PATH[:] = [log_path]
    handlers[0].setLevel(logging.WARNING)  # the terminal gets warnings and errors only
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )


@contextlib.contextmanager
def native_output_to_log():
    """Send what native code writes to stderr (TensorFlow's C++ start-up lines, which no
    log level silences) to the job's log instead of the terminal, for the block."""
    if not _LOG_PATH:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(_LOG_PATH[0], "a") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


# temporary name -> real name of the running job's outputs (see final_path)
_FINAL: dict[str, str] = {}


def final_path(path: str | Path) -> str:
    """The real name of ``path``, an output (or a file in a folder output) of this job
    under its temporary name: what a file that refers to another output must record."""
    text = str(path)
    for staged, final in _FINAL.items():
        if text == staged or text.startswith(staged + os.sep):
            return final + text[len(staged) :]
    return text


class Lease:
    """A job's claim on its outputs: a JSON file of its host, PID and start, refreshed
    by a heartbeat, and the temporary names of its outputs."""

    def __init__(self, rule: str, outputs: list[str]):
        import hashlib

        key = hashlib.sha1("\0".join(sorted(outputs)).encode("utf-8", "surrogateescape"))
        self.rule, self.outputs = rule, outputs
        self.path = LEASES / f"{rule}-{key.hexdigest()[:12]}.json"
        self.token = uuid.uuid4().hex
        self.staged = {out: _staged_name(out, self.token) for out in outputs}
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
        self._stop = threading.Event()

    def acquire(self) -> None:
        """Take the lease, or stop naming the running job that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        holder = self._read()
        if holder is not None and self._running(holder):
            self._write({**holder, "revoked_by": self._whoami()})
            raise UserError(self._refusal(holder))
        if holder is not None:  # a dead job's: its half-written outputs go
            for leftover in map(Path, holder.get("staged", [])):
                if leftover.name.startswith(".") and ".staged" in leftover.name:  # ours only
                    _remove(leftover)
        self._write(self.me)
        if not self.ours():  # another job took it in the same instant
            raise UserError(f"rule {self.rule}: another job took these outputs; run again")
        threading.Thread(target=self._beat, daemon=True).start()

    def staged_output(self, output):
        """``output`` (Snakemake's named list) with the temporary names."""
        for final, staged in self.staged.items():
            _FINAL[staged] = final
        return type(output)(toclone=output, custom_map=lambda out: self.staged[out])

    def publish(self) -> None:
        """Give the outputs their real names, if the lease is still this job's."""
        holder = self._read()
        if not self.ours():
            taker = (holder or {}).get("revoked_by") or holder or {}
            raise UserError(
                f"rule {self.rule}: results discarded: a newer run (PID {taker.get('pid')} "
                f"on host {taker.get('host')}) took over these outputs while this job ran"
            )
        for final, staged in self.staged.items():
            if Path(staged).exists() or Path(staged).is_symlink():
                if Path(final).is_dir() and not Path(final).is_symlink():
                    shutil.rmtree(final)  # a folder cannot be renamed over a full one
                os.replace(staged, final)

    def release(self) -> None:
        self._stop.set()
        for staged in self.staged.values():
            _remove(Path(staged))  # left only by a failure
            _FINAL.pop(staged, None)
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


def _staged_name(path: str, token: str) -> str:
    """A hidden name beside ``path`` that keeps its suffix (Keras and matplotlib read the
    format from it), e.g. ``.metrics.1a2b3c4d.staged.json``."""
    p = Path(path)
    return str(p.with_name(f".{p.stem}.{token[:8]}.staged{p.suffix}"))


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
