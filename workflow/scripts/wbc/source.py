"""Where the images come from: ``kaggle:<owner>/<dataset>``, a ``.zip`` archive or a folder.

Imported by the Snakefile at parse time, so it needs nothing beyond the standard library.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
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


# what operating systems leave beside a user's files: macOS's Finder metadata in zips
# (``__MACOSX/``, AppleDouble ``._<name>`` files) and folders (``.DS_Store``), Windows'
# thumbnail caches. Never data, never warned about.
SYSTEM_FILES = frozenset({"__MACOSX", "Thumbs.db", "ehthumbs.db", "desktop.ini"})


def ignored(name: str) -> bool:
    """Whether a file or folder name is hidden or an operating system's metadata."""
    return name.startswith(".") or name in SYSTEM_FILES


def list_files(root: str | Path) -> list[str]:
    """Every file under ``root`` (broken links too) but ``ignored`` ones, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not ignored(d))
        found.extend(os.path.join(dirpath, name) for name in filenames if not ignored(name))
    return sorted(found)


def folder_fingerprint(root: str | Path, index: str | Path | None = None) -> str:
    """A hash of what a folder of images holds: every file's path and content (``list_files``).

    A rule param instead of one input per image: a job with 10,000 inputs is slow to
    schedule, and Snakemake prints every input of a job that fails, burying its error.
    An added, removed, renamed or edited file changes the fingerprint, so the rule reruns;
    a ``touch`` does not. Content hashes are kept in ``index`` (a JSON file) by path, size
    and modification time, so only new or changed files are read again, as git's index does.
    """
    root = Path(root)
    known: dict = {}
    if index is not None:
        try:
            known = json.loads(Path(index).read_text())
        except (OSError, ValueError):  # none yet, or unreadable: hash everything
            known = {}
    current, digest = {}, hashlib.sha256()
    for path in list_files(root):
        name = os.fsencode(os.path.relpath(path, root)).decode("utf-8", "surrogateescape")
        key = name.encode("utf-8", "surrogateescape").hex()
        try:
            stat = os.stat(path)
            seen = [stat.st_size, stat.st_mtime_ns]
            entry = known.get(key)
            if entry is None or entry[:2] != seen:
                entry = [*seen, _sha256(path)]
        except OSError:  # a broken link, an unreadable file: its name alone
            entry = [0, 0, ""]
        current[key] = entry
        digest.update(f"{key}\0{entry[2]}\n".encode())
    if index is not None and current != known:
        with contextlib.suppress(OSError):  # a read-only .snakemake/: no cache, same hash
            Path(index).parent.mkdir(parents=True, exist_ok=True)
            partial = Path(f"{index}.{os.getpid()}.partial")
            partial.write_text(json.dumps(current))
            os.replace(partial, index)
    return digest.hexdigest()


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
