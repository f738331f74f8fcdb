"""What a run needs from the network, checked before any job starts (the Snakefile's
``onstart``): one line per download that cannot happen, naming the config key to set
instead, rather than each download job failing in turn among the run's output.

Read by the Snakefile: standard library only.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

from . import models as registry
from .source import kaggle_cached, kagglehub_cache

KAGGLE_ENDPOINT = "https://www.kaggle.com"  # kagglehub's, unless $KAGGLE_API_ENDPOINT
TIMEOUT = 5  # seconds: an answer, any answer, means the host is reachable


def reachable(url: str, timeout: float = TIMEOUT) -> bool:
    """Whether ``url``'s server answers (through the proxies the environment sets)."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout)
    except urllib.error.HTTPError:
        return True  # it answered, if only with an error status
    except (OSError, ValueError):  # URLError, refused, timed out, no DNS; a bad URL
        return False
    return True


def offline_problems(
    rules: set[str], kaggle_handle: str | None, weights_of: list[str] = ()
) -> list[str]:
    """One line per download among ``rules`` (the rules of the jobs to run) that cannot
    happen: the Kaggle dataset neither in kagglehub's cache nor reachable; the ImageNet
    weights of the frozen backbone of each model of ``weights_of`` (the jobs of rule
    backbone_weights) not reachable."""
    problems = []
    if "download_kaggle" in rules and kaggle_cached(kaggle_handle) is None:
        endpoint = os.environ.get("KAGGLE_API_ENDPOINT", KAGGLE_ENDPOINT)
        if not reachable(endpoint):
            problems.append(
                f"config key 'source': cannot reach Kaggle ({endpoint}) to download "
                f"{kaggle_handle}, and kagglehub's cache ({kagglehub_cache()}) does not hold "
                "it; download the archive on a machine with internet and give its path: "
                "make run ARGS='--config source=path/to/blood-cells.zip' (or its unpacked "
                "folder; with snakemake itself: --config source=path/to/blood-cells.zip)"
            )
    for model in dict.fromkeys(weights_of):
        spec = registry.facts_of(model).frozen_features
        if reachable(spec.weights_url):
            continue
        problems.append(
            f"config key 'models.{model}.weights': cannot download the {spec.application} "
            f"ImageNet weights ({spec.weights_url}); download that file on a machine with "
            "internet and give its path in a config file, offline.yaml: models: "
            f"{{{model}: {{weights: path/to/{spec.weights_file}}}}} (or null for a random "
            "backbone), then make run ARGS='--configfile offline.yaml' (snakemake: "
            "--configfile offline.yaml)"
        )
    return problems
