"""The download of a frozen backbone's ImageNet weights (rule backbone_weights): standard
library only, so the rule needs no TensorFlow."""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from pathlib import Path

from ..io import atomic_path
from ..runtime import UserError
from .facts import ModelFacts

log = logging.getLogger(__name__)


def fetch_weights(
    dest: str | Path, facts: ModelFacts, url: str | None = None, timeout: float = 60
) -> Path:
    """Download the ImageNet weights of ``facts``' backbone (checked against the declared
    MD5 when the URL is the declared one) to ``dest``."""
    spec = facts.frozen_features
    url = url or spec.weights_url
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading %s", url)
    with atomic_path(dest) as partial:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                with open(partial, "wb") as fh:
                    while chunk := response.read(1 << 20):
                        fh.write(chunk)
        except OSError as err:  # URLError, timeouts and refused connections are OSErrors
            raise UserError(
                f"cannot download the {spec.application} ImageNet weights from {url} "
                f"({err}); download that file on a machine with internet and set config "
                f"key 'models.{facts.name}.weights' to its path, or set it to null "
                "(random init)"
            ) from None
        md5 = hashlib.md5(partial.read_bytes()).hexdigest()
        if url == spec.weights_url and spec.weights_md5 and md5 != spec.weights_md5:
            raise UserError(
                f"{url}: downloaded file has MD5 {md5}, expected {spec.weights_md5}; run again"
            )
    log.info("saved %s (%d bytes)", dest, dest.stat().st_size)
    return dest
