"""Where the images come from: ``kaggle:<owner>/<dataset>``, a ``.zip`` archive or a folder.

Imported by the Snakefile at parse time, so it needs nothing beyond the standard library.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

KAGGLE_PREFIX = "kaggle:"


@dataclass(frozen=True)
class Source:
    kind: str  # "kaggle", "zip" or "folder"
    value: str  # Kaggle handle or filesystem path


def parse_source(source: str) -> Source:
    """Classify the ``source`` config value; a local path that is missing is a config error."""
    if source.startswith(KAGGLE_PREFIX):
        handle = source[len(KAGGLE_PREFIX) :].strip("/")
        if handle.count("/") not in (1, 3):
            raise ValueError(
                f"config key 'source': {source!r} is not a Kaggle handle; "
                "use kaggle:<owner>/<dataset> (optionally .../versions/<n>)"
            )
        return Source("kaggle", handle)
    path = Path(source).expanduser()
    if path.is_dir():
        return Source("folder", str(path))
    if path.is_file() and path.suffix.lower() == ".zip":
        return Source("zip", str(path))
    if path.exists():
        raise ValueError(
            f"config key 'source': {source} is neither a .zip archive nor a folder; "
            "point it at the Kaggle archive, a folder of <CLASS>/<image> files, "
            "or kaggle:<owner>/<dataset>"
        )
    raise ValueError(
        f"config key 'source': {source} does not exist; "
        "point it at a .zip archive, a folder, or kaggle:<owner>/<dataset>"
    )


def list_files(root: str | Path) -> list[str]:
    """Every non-hidden file under ``root``, sorted: the inputs that make a folder rerun."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(os.path.join(dirpath, name) for name in filenames if not name.startswith("."))
    return sorted(found)


def shard_of(image: str, shards: int) -> int:
    """Stable shard of a dataset-relative path: adding or changing one image moves no other."""
    digest = hashlib.sha1(image.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards
