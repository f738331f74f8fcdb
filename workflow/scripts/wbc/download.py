"""Getting the data: the Kaggle download (kagglehub) and unpacking a local archive."""

from __future__ import annotations

import logging
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath

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


def unpack_zip(archive: str | Path, dest: str | Path) -> Path:
    """Unpack an archive, refusing corrupt archives and members that escape ``dest``."""
    dest = Path(dest)
    try:
        with zipfile.ZipFile(archive) as zf:
            if not any(not member.is_dir() for member in zf.infolist()):
                raise UserError(
                    f"{archive}: the archive holds no files; point config key 'source' "
                    "at the archive of the images (or download it again)"
                )
            for member in zf.infolist():
                parts = PurePosixPath(member.filename).parts
                if member.filename.startswith("/") or ".." in parts:
                    raise UserError(
                        f"{archive}: member {member.filename!r} would unpack outside "
                        "the target folder; re-create the archive with relative paths"
                    )
            zf.extractall(dest)
    except zipfile.BadZipFile as err:
        raise UserError(
            f"{archive} is not a readable zip archive ({err}); download it again"
        ) from None
    return dest
