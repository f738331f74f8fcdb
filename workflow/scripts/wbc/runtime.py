"""What every rule script shares: logging into the rule's log file and one-line errors."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable


class UserError(Exception):
    """Bad input or configuration: the message names the file or key and the fix."""


def run_rule(main: Callable[[], None], log_path: str | None) -> None:
    """Run a rule script's body with logging sent to the rule's log file.

    A ``UserError`` ends the job with its one-line message on stderr (the terminal) and in
    the log; any other failure leaves its traceback in the log.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    handlers[0].setLevel(logging.WARNING)  # the terminal gets warnings and errors only
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    try:
        main()
    except UserError as err:
        logging.error("%s", err)
        sys.exit(1)
    except Exception:
        logging.error("unexpected failure:\n%s", traceback.format_exc())
        sys.exit(1)
