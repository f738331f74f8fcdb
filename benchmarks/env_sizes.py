"""How big each rule env is: its pip wheels' download size and their unpacked (installed)
size, for the platform this script runs on (a Linux x86_64 node with Python 3.11: the
wheels pip would choose there), from PyPI alone, without installing anything.

Download size: the wheel's size in PyPI's index. Installed size: the sum of the file sizes
in the wheel, read from its zip directory (HTTP range requests: a few hundred KB per
wheel, not the wheel). pip writes the files as they are, plus byte-compiled .pyc files for
the Python modules (not counted). conda's python and pip (conda-forge) are not counted.

    .venv/bin/python benchmarks/env_sizes.py [envs/tensorflow.yaml ...]
"""

from __future__ import annotations

import json
import sys
import urllib.request
import zipfile
from pathlib import Path

import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.tags import sys_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parents[1]
TAGS = {tag: rank for rank, tag in enumerate(sys_tags())}  # best first


class RemoteFile:
    """A file on a web server that supports range requests, read lazily in blocks."""

    BLOCK = 1 << 18

    def __init__(self, url: str, size: int):
        self.url, self.size, self.pos = url, size, 0
        self.cache_start, self.cache = 0, b""

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def read(self, n: int = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        if end <= self.pos:
            return b""
        cached_end = self.cache_start + len(self.cache)
        if not (self.cache_start <= self.pos and end <= cached_end):
            start = max(0, min(self.pos, end - self.BLOCK))
            fetch_end = max(end, min(self.size, start + self.BLOCK))
            request = urllib.request.Request(
                self.url, headers={"Range": f"bytes={start}-{fetch_end - 1}"}
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                self.cache_start, self.cache = start, response.read()
        data = self.cache[self.pos - self.cache_start : end - self.cache_start]
        self.pos += len(data)
        return data


def wheel(name: str, version: str) -> dict:
    """The wheel pip would install here: the best-ranked tag of the release's wheels."""
    request = urllib.request.Request(
        f"https://pypi.org/simple/{name}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    candidates = []
    for f in files:
        if not f["filename"].endswith(".whl"):
            continue
        _, wheel_version, _, tags = parse_wheel_filename(f["filename"])
        ranks = [TAGS[t] for t in tags if t in TAGS]
        if str(wheel_version) == version and ranks:
            candidates.append((min(ranks), f))
    if not candidates:
        raise SystemExit(f"{name}=={version}: no wheel for this platform on PyPI")
    return min(candidates, key=lambda c: c[0])[1]


def unpacked_size(url: str, size: int) -> int:
    with zipfile.ZipFile(RemoteFile(url, size)) as zf:
        return sum(info.file_size for info in zf.infolist())


def env_pins(path: Path) -> list[Requirement]:
    """The env's pip requirements that apply on this platform."""
    env = yaml.safe_load(path.read_text())
    pins = [Requirement(p) for d in env["dependencies"] if isinstance(d, dict) for p in d["pip"]]
    here = default_environment()
    chosen = {}
    for req in pins:
        if req.marker is None or req.marker.evaluate(here):
            chosen.setdefault(canonicalize_name(req.name), req)  # [and-cuda]: same wheel
    return list(chosen.values())


def main() -> None:
    paths = [Path(p) for p in sys.argv[1:]] or sorted((REPO / "envs").glob("*.yaml"))
    mb = 1e6
    print(f"{'env':12} {'wheels':>6} {'download MB':>12} {'installed MB':>13}  largest")
    for path in paths:
        rows = []
        for req in env_pins(path):
            (spec,) = req.specifier
            f = wheel(canonicalize_name(req.name), spec.version)
            rows.append((f["size"], unpacked_size(f["url"], f["size"]), f["filename"]))
        download = sum(r[0] for r in rows)
        installed = sum(r[1] for r in rows)
        largest = ", ".join(
            f"{r[2].split('-')[0]} {r[1] / mb:.0f}"
            for r in sorted(rows, key=lambda r: r[1], reverse=True)[:3]
        )
        print(
            f"{path.stem:12} {len(rows):6} {download / mb:12.0f} {installed / mb:13.0f}  {largest}"
        )


if __name__ == "__main__":
    main()
