"""What every rule script shares: logging into the rule's log file, one-line errors, and
the job's outputs written under a lease (``wbc.lease``), so that no two jobs ever write the
same results. The package's functions see only paths: the temporary names the lease gives
the outputs are this module's business, and every message the job logs names the real ones.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from .lease import Lease, LeaseError


class UserError(Exception):
    """Bad input or configuration: the message names the file or key and the fix."""


def run_rule(main: Callable[[], None], snakemake) -> None:
    """Run a rule script's body under a lease on the job's outputs, with logging sent to
    the rule's log file.

    ``main`` writes ``snakemake.output``, which names temporary files here; they replace
    the real outputs once ``main`` returns. A ``UserError``, a lost lease or a full disk
    ends the job with one line on stderr (the terminal) and in the log; any other failure
    leaves its traceback in the log. Either way no output is written. Every message names
    the outputs' real paths, never their temporary ones.
    """
    _log_to(snakemake.log[0] if snakemake.log else None)
    lease = Lease(snakemake.rule, list(snakemake.output))
    _REAL_NAMES.update({staged: final for final, staged in lease.staged.items()})
    free = FULL  # on the outputs' disk when the job failed, before its outputs were deleted
    try:
        lease.acquire()
        try:
            snakemake.output = lease.staged_output(snakemake.output)
            main()
            lease.publish()
        except Exception as err:
            if isinstance(err, UserError | LeaseError):
                raise
            if not lease.ours():  # a newer run took the outputs: whatever went wrong
                raise LeaseError(lease.discarded()) from None
            free = min(_free(staged) for staged in lease.staged.values())
            raise
        finally:
            lease.release()
    except (UserError, LeaseError) as err:
        _stop(str(err))
    except Exception as err:
        if full := disk_full(err, lease, free):
            _stop(full)
        logging.error("unexpected failure:\n%s", traceback.format_exc())
        sys.exit(1)


# Where a job leaves its one-line error for Snakemake's onerror (common.smk), which prints
# them after everything else, so that the error is the last thing a user reads. The onstart
# hook sets RECAP for the jobs it starts; other jobs (on a cluster node, with hooks off)
# print their error themselves too.
ERRORS = Path(".snakemake") / "wbc-errors"
RECAP = "WBC_ERROR_RECAP"


def _stop(message: str) -> None:
    """End the job with its one-line error: in the log, and on the terminal now or in
    the run's closing lines."""
    with contextlib.suppress(OSError):
        ERRORS.mkdir(parents=True, exist_ok=True)
        (ERRORS / f"{time.time_ns()}-{os.getpid()}.txt").write_text(message)
        if os.environ.get(RECAP):
            for handler in logging.root.handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                    handler.setLevel(logging.CRITICAL + 1)
    logging.error("%s", message)
    sys.exit(1)


def error_recap() -> list[str]:
    """The one-line errors the failed jobs left, oldest first, and none left behind (what
    onerror prints; onstart clears an earlier run's)."""
    lines = []
    for path in sorted(ERRORS.glob("*.txt")) if ERRORS.is_dir() else []:
        with contextlib.suppress(OSError):
            lines.append(path.read_text().strip())
            path.unlink()
    return lines


def disk_full(err: BaseException, lease: Lease, free: int) -> str:
    """The one line for a job stopped by a full disk ('' for other failures): the output
    it could not write, the space that was left (``free``) and how much more it needs, at
    least what it had written."""
    chain, cause = [], err
    while cause is not None:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    full = any(getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT) for e in chain)
    # some writers (OpenCV's imwrite) fail without saying why: a full disk says it
    if not (full or (free < FULL and any(isinstance(e, OSError) for e in chain))):
        return ""
    final = next(iter(lease.staged))
    named = next((str(e.filename) for e in chain if getattr(e, "filename", None)), "")
    for candidate, staged in lease.staged.items():
        if named == staged or named.startswith(staged + os.sep):
            final = candidate
    written = lease.staged_bytes  # measured by release(), before it deleted them
    return (
        f"rule {lease.rule}: no space left on the disk of {final} ({_size(free)} "
        f"free) while writing it; the job had written {_size(written)} of its outputs: free "
        f"at least {_size(max(written, FULL))} there (or run in a folder on a larger disk) "
        "and run again"
    )


FULL = 1 << 20  # bytes: a disk with less free is full


def _free(path: str) -> int:
    """Free bytes on the disk of ``path`` (its nearest existing folder)."""
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return FULL


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


# temporary name -> real name of the running job's outputs: every message is written with
# the real ones (_RealNames), so none points to a file that is gone once the job ends
_REAL_NAMES: dict[str, str] = {}


class _RealNames(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _REAL_NAMES:
            text = record.getMessage()
            for staged in sorted(_REAL_NAMES, key=len, reverse=True):  # longest first
                text = text.replace(staged, _REAL_NAMES[staged])
            record.msg, record.args = text, None
        return True


class _LogFile(logging.FileHandler):
    """The job's log file; a failure to write it (a full disk) is not a second error on
    the terminal, which still gets every warning and error."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


_LOG_PATH: list[str] = []  # the running job's log file, once run_rule has set it up


def _log_to(log_path: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(_LogFile(log_path, mode="w"))
        _LOG_PATH[:] = [log_path]
    handlers[0].setLevel(logging.WARNING)  # the terminal gets warnings and errors only
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    for handler in handlers:
        handler.addFilter(_RealNames())


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
