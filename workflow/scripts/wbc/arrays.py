"""Training data: each split's crops resized once into a uint8 ``.npy`` file that the
training rules read batch by batch, so no rule holds a float32 copy of all images."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .io import atomic_write
from .runtime import UserError


def resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """The models' input: RGB uint8, ``size`` x ``size``, bilinear."""
    import cv2  # not needed by the rules that only read arrays

    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR)


def _write_header(fh, shape: tuple[int, ...], dtype) -> None:
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": tuple(shape),
    }
    np.lib.format.write_array_header_2_0(fh, header)


def write_npy(path: str | Path, shape: tuple[int, ...], dtype, batches) -> None:
    """Write a ``.npy`` of ``shape`` from an iterable of row batches, never holding more
    than one batch (np.save would need the whole array in memory)."""
    written = 0
    with atomic_write(path, "wb") as fh:
        _write_header(fh, shape, dtype)
        for batch in batches:
            batch = np.ascontiguousarray(batch, dtype=dtype)
            fh.write(batch.tobytes())
            written += len(batch)
        if written != shape[0]:  # inside: a short array never appears under its name
            raise ValueError(f"{path}: wrote {written} rows, expected {shape[0]}")


def build_image_array(
    crops: list[str], size: int, path: str | Path, cache: ArrayCache | None = None
) -> int:
    """Resize each crop (PNG written by the crop rule) into row i of ``path``; rows whose
    crop ``cache`` holds (the same bytes) are copied from there. Returns how many crops
    were decoded and resized."""
    from .crop import read_rgb

    previous = cache.load() if cache else {}
    keys: list[str] = []
    decoded = 0

    def rows():
        nonlocal decoded
        for crop in crops:
            try:
                data = Path(crop).read_bytes()
                key = hashlib.sha1(data).hexdigest()
                keys.append(key)
                if key in previous:
                    yield previous[key]
                    continue
                decoded += 1
                yield resize(read_rgb(crop), size)[None]
            except Exception as err:
                raise UserError(
                    f"{crop}: cannot read this crop ({err}); rerun the crop step "
                    "(snakemake --forcerun crop_shard)"
                ) from None

    write_npy(path, (len(crops), size, size, 3), np.uint8, rows())
    if cache:
        cache.save(path, keys)
    return decoded


class ArrayCache:
    """The rows of an array's previous build, by the content of their crops, so that a
    rebuild after a few crops changed resizes only those (one changed image: the 12
    default arrays took 19 s of job time, all of it decoding and resizing every crop).

    ``folder`` holds ``rows.npy``, a hard link to the last array written (Snakemake deletes
    an output before its job reruns; the link keeps its rows at no cost in disk), and
    ``keys.txt``: ``tag`` (what else the rows depend on: the rule's code version, the
    size), then the sha1 of each row's crop. A cache of another tag, or torn by an
    interruption, is ignored; deleting the folder only costs time.
    """

    def __init__(self, folder: str | Path, tag: str):
        self.folder, self.tag = Path(folder), tag
        self.rows, self.keys = self.folder / "rows.npy", self.folder / "keys.txt"

    def load(self) -> Mapping[str, np.ndarray]:
        """Crop sha1 -> its row (1, size, size, 3), read when looked up; empty when there
        is no usable cache."""
        try:
            lines = self.keys.read_text().splitlines()
            rows = NpyRows(self.rows)
        except (OSError, ValueError):
            return {}
        if not lines or lines[0] != self.tag or len(lines) - 1 != len(rows):
            return {}
        return _CachedRows(rows, {key: i for i, key in enumerate(lines[1:])})

    def save(self, array: str | Path, keys: list[str]) -> None:
        """Keep ``array`` (just written, with a crop sha1 per row) as the cache: keys go
        last, so an interruption leaves no keys rather than keys of other rows."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.keys.unlink(missing_ok=True)
        self.rows.unlink(missing_ok=True)
        try:
            os.link(array, self.rows)
        except OSError:  # another file system, or no hard links: no cache, no harm
            return
        with atomic_write(self.keys) as fh:
            fh.write("\n".join([self.tag, *keys]) + "\n")


class _CachedRows(Mapping):
    def __init__(self, rows: NpyRows, where: dict[str, int]):
        self._rows, self._where = rows, where

    def __getitem__(self, key: str) -> np.ndarray:
        return self._rows.read([self._where[key]])

    def __iter__(self):
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


class NpyRows:
    """Rows of a ``.npy`` file read on demand with ``pread``.

    Unlike ``np.load(mmap_mode='r')`` the pages read stay in the page cache and are not
    counted in the process's RSS, so a training rule's memory does not grow with the
    size of the data set.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(fh)
            self.offset = fh.tell()
        if fortran:
            raise ValueError(f"{path}: Fortran-ordered arrays are not supported")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_shape = self.shape[1:]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._fd = None

    def __len__(self) -> int:
        return self.shape[0]

    def _fileno(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def read(self, indices) -> np.ndarray:
        """The rows at ``indices`` (any order), as a new array."""
        indices = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(indices), *self.row_shape), self.dtype)
        flat = out.reshape(len(indices), -1).view(np.uint8)
        fd = self._fileno()
        for k, i in enumerate(indices):
            data = os.pread(fd, self.row_bytes, self.offset + int(i) * self.row_bytes)
            flat[k] = np.frombuffer(data, np.uint8)
        return out

    def __getstate__(self):  # picklable for worker processes: reopen there
        return {**self.__dict__, "_fd": None}

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)


def row_batches(rows: NpyRows, batch_size: int):
    """The rows in order, ``batch_size`` at a time (the last batch may be shorter)."""
    for start in range(0, len(rows), batch_size):
        yield rows.read(np.arange(start, min(start + batch_size, len(rows))))


def predict_rows(predict, rows: NpyRows, batch_size: int, n_classes: int) -> np.ndarray:
    """``predict(batch)`` over every row, in row order: never more than one batch in memory
    beyond the result (the one inference loop of training, features and evaluation)."""
    out = [np.asarray(predict(batch)) for batch in row_batches(rows, batch_size)]
    return np.concatenate(out) if out else np.zeros((0, n_classes), np.float32)
