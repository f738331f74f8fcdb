"""Getting the data: the Kaggle download (kagglehub) and unpacking a local archive."""

from __future__ import annotations

import logging
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from .io import atomic_write
from .runtime import UserError
from .source import kaggle_cached

log = logging.getLogger(__name__)


def download_kaggle(handle: str, dest: str | Path) -> Path:
    """Download a Kaggle dataset with kagglehub (cached) and copy it to ``dest``.

    Offline, a handle without a version (which kagglehub resolves online) is read from
    the newest version in kagglehub's cache, if there is one."""
    import kagglehub
    import requests

    try:
        cached = kagglehub.dataset_download(handle)
    except requests.exceptions.ConnectionError as err:
        found = kaggle_cached(handle)
        if found is not None:
            version, cached = found
            log.warning(
                "cannot reach Kaggle to ask for the latest version of %s: using its cached "
                "version %d (%s)",
                handle,
                version,
                cached,
            )
            _copy_tree(Path(cached), Path(dest))
            return Path(dest)
        raise UserError(
            f"cannot reach Kaggle to download {handle} ({type(err).__name__}); "
            "download the archive on a machine with internet and set config key "
            "'source' to the local .zip or folder"
        ) from None
    except Exception as err:  # kagglehub's HTTP and auth errors have no common base
        raise UserError(
            f"Kaggle download of {handle} failed: {err}; check the handle, or set "
            "config key 'source' to a local .zip or folder"
        ) from None
    _copy_tree(Path(cached), Path(dest))
    return Path(dest)


def _copy_tree(src: Path, dest: Path) -> None:
    """Hard-link when possible (same filesystem: instant, no extra space), else copy."""

    def link_or_copy(s, d):
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    shutil.copytree(src, dest, copy_function=link_or_copy)


def unpack_zip(archive: str | Path, dest: str | Path, cache: str | Path | None = None) -> Path:
    """Unpack an archive, refusing corrupt archives and members that escape ``dest``.

    With ``cache`` (a folder), the files of the last unpacking are kept there as hard
    links, listed with their member's CRC and size: a member unchanged since is linked
    from there instead of written again (Snakemake removes a directory output before its
    job reruns, so one changed image in the zip re-extracted every file: 1-8 s of a rerun,
    the disk's write-back of 10 k files)."""
    dest = Path(dest)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if not any(not member.is_dir() for member in members):
                raise UserError(
                    f"{archive}: the archive holds no files; point config key 'source' "
                    "at the archive of the images (or download it again)"
                )
            for member in members:
                parts = PurePosixPath(member.filename).parts
                if member.filename.startswith("/") or ".." in parts:
                    raise UserError(
                        f"{archive}: member {member.filename!r} would unpack outside "
                        "the target folder; re-create the archive with relative paths"
                    )
            if cache is None:
                zf.extractall(dest)
            else:
                _unpack_linking(zf, members, dest, UnpackCache(cache))
    except zipfile.BadZipFile as err:
        raise UserError(
            f"{archive} is not a readable zip archive ({err}); download it again"
        ) from None
    return dest


def _unpack_linking(zf: zipfile.ZipFile, members, dest: Path, cache: UnpackCache) -> None:
    kept = cache.take()  # the listing is gone until the cache is whole again
    linked = 0
    for member in members:
        if member.is_dir():
            (dest / member.filename).mkdir(parents=True, exist_ok=True)
            continue
        target = dest / member.filename
        if cache.link(member, kept, target):
            linked += 1
        else:
            target.unlink(missing_ok=True)  # never written through: it may be a kept copy
            zf.extract(member, dest)
            cache.keep(member, target)
    cache.save(members, kept)
    files = sum(not m.is_dir() for m in members)
    log.info("%d files: %d unchanged since the last unpacking, linked", files, linked)


class UnpackCache:
    """Hard links to the files of the last unpacking (``files/``) and their listing
    (``members.tsv``: name, CRC, size, and the file's size and mtime when kept, so a file
    edited in place is never taken for the member). Deleting the folder only costs time."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.files, self.listing = self.folder / "files", self.folder / "members.tsv"

    def take(self) -> dict[str, tuple[int, int, int, int]]:
        """The listing, removed: an interruption from here on leaves no cache to trust."""
        kept = {}
        try:
            for line in self.listing.read_text().splitlines():
                name, *numbers = line.split("\t")
                kept[name] = tuple(int(n) for n in numbers)
        except (OSError, ValueError):
            kept = {}
        self.listing.unlink(missing_ok=True)
        if not kept:  # nothing to trust: drop what an interrupted unpacking left
            shutil.rmtree(self.files, ignore_errors=True)
        return kept

    def link(self, member: zipfile.ZipInfo, kept: dict, target: Path) -> bool:
        """Link ``target`` to the kept copy of ``member`` if it is that member's bytes."""
        entry = kept.get(member.filename)
        if entry is None or entry[:2] != (member.CRC, member.file_size):
            return False
        source = self.files / member.filename
        try:
            stat = source.stat()
            if (stat.st_size, stat.st_mtime_ns) != entry[2:]:
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
        except OSError:
            return False
        return True

    def keep(self, member: zipfile.ZipInfo, target: Path) -> None:
        """Keep a freshly extracted member (its old copy, if any, is replaced)."""
        source = self.files / member.filename
        source.unlink(missing_ok=True)
        try:
            source.parent.mkdir(parents=True, exist_ok=True)
            os.link(target, source)
        except OSError:  # another file system, or no hard links: not kept
            pass

    def save(self, members, kept: dict) -> None:
        """The listing of the kept files that are this archive's members (the others,
        members no more, are removed)."""
        names = {m.filename for m in members if not m.is_dir()}
        for name in set(kept) - names:
            (self.files / name).unlink(missing_ok=True)
        lines = []
        for member in members:
            source = self.files / member.filename
            if member.is_dir() or not source.is_file():
                continue
            stat = source.stat()
            numbers = (member.CRC, member.file_size, stat.st_size, stat.st_mtime_ns)
            lines.append("\t".join([member.filename, *map(str, numbers)]))
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.listing) as fh:
            fh.write("".join(f"{line}\n" for line in lines))
