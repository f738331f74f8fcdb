"""Where the images come from: ``kaggle:<owner>/<dataset>``, a ``.zip`` archive or a folder.

Imported by the Snakefile at parse time, so it needs nothing beyond the standard library.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from . import IMAGE_SUFFIXES

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


def kagglehub_cache() -> Path:
    """kagglehub's cache folder (``$KAGGLEHUB_CACHE``, else ``~/.cache/kagglehub``)."""
    return Path(os.environ.get("KAGGLEHUB_CACHE", Path.home() / ".cache" / "kagglehub"))


def kaggle_cached(handle: str) -> tuple[int, Path] | None:
    """The version of a Kaggle dataset kagglehub's cache holds complete, and its folder:
    the handle's own version, or for a handle without one the newest cached. Read as
    kagglehub lays it out: ``datasets/<owner>/<dataset>/versions/<n>/`` beside the
    marker ``datasets/<owner>/<dataset>/<n>.complete`` of a finished download."""
    owner, dataset, *version = handle.split("/")
    base = kagglehub_cache() / "datasets" / owner / dataset
    wanted = [int(version[1])] if version else []
    if not wanted and (base / "versions").is_dir():
        wanted = sorted(
            (int(p.name) for p in (base / "versions").iterdir() if p.name.isdigit()), reverse=True
        )
    for n in wanted:
        if (base / f"{n}.complete").is_file() and (base / "versions" / str(n)).is_dir():
            return n, base / "versions" / str(n)
    return None


def list_files(root: str | Path) -> list[str]:
    """Every non-hidden file under ``root`` (broken links too), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(os.path.join(dirpath, name) for name in filenames if not name.startswith("."))
    return sorted(found)


def snakemake_inputs(files: list[str]) -> tuple[list[str], str]:
    """The files Snakemake can take as rule inputs, and a fingerprint of the others.

    Snakemake reads ``{...}`` in a path as a wildcard (there is no escape), cannot write
    a name that is not UTF-8 into its lock files, and stops on a broken link. Such files
    are no inputs; the fingerprint of their names, sizes and times, a rule param, still
    reruns the rule (which reads the folder itself) when one appears, changes or goes.
    """
    inputs, others = [], []
    for path in files:
        plain = is_utf8(path) and "{" not in path and "}" not in path
        (inputs if plain and os.path.exists(path) else others).append(path)
    digest = hashlib.sha1()
    for path in others:
        stat = os.lstat(path)
        digest.update(os.fsencode(path) + f"\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return inputs, digest.hexdigest() if others else ""


def is_utf8(name: str | Path) -> bool:
    try:
        str(name).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as surrogates
        return False
    return True


def printable(path: str | Path) -> str:
    """A path as text any log can hold: bytes that are not UTF-8 shown as ``\\xe9``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def why_skipped(path: Path) -> str:
    """Why a file where images are expected is not read as one ('' for an image)."""
    if not is_utf8(path.name):
        return "its name is not UTF-8; rename it"
    if path.is_symlink() and not path.exists():
        return "a broken symbolic link"
    if path.is_dir():
        return "a folder"
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return f"not an image type ({', '.join(sorted(IMAGE_SUFFIXES))})"
    return ""


def folder_id(folder: str | Path) -> str:
    """A results folder name for an input folder: its name (made safe for a path) and a
    short hash of its absolute path, so two folders never share a result."""
    absolute = os.path.abspath(os.path.expanduser(folder))
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(absolute)).strip("._") or "folder"
    return f"{name}-{hashlib.sha1(os.fsencode(absolute)).hexdigest()[:8]}"


def shard_of(image: str, shards: int) -> int:
    """Stable shard of a dataset-relative path: adding or changing one image moves no other."""
    digest = hashlib.sha1(image.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards
