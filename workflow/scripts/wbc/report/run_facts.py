"""Report section: the run facts: device, seeds and package versions, time and memory
per rule from Snakemake's benchmark files, and the config used."""

from __future__ import annotations

import datetime as dt
import platform
from importlib import metadata
from pathlib import Path

import pandas as pd

from .common import html_table, write_section

# versions shown under run facts, when installed where the report runs
PACKAGES = (
    "snakemake", "numpy", "pandas", "scikit-learn", "matplotlib", "tensorflow",
    "tensorflow-cpu", "keras", "opencv-python-headless", "pillow", "kagglehub",
)  # fmt: skip


BENCHMARK_COLUMNS = (
    "rule", "jobs", "wall seconds (sum of jobs)", "peak RSS (MB)", "CPU seconds", "last run (UTC)"
)  # fmt: skip


def benchmark_table(files, benchmark_dir: str | Path = "results/benchmarks") -> pd.DataFrame:
    """Wall time and peak memory per rule from Snakemake's benchmark ``files`` (the rule's
    declared inputs: the jobs of this run's DAG), grouped by rule."""
    rows = []
    root = Path(benchmark_dir)
    for path in map(Path, sorted(files)):
        parts = path.relative_to(root).parts
        rule = parts[0] if len(parts) > 1 else path.stem  # <rule>/<wildcards>.tsv or <rule>.tsv
        bench = pd.read_csv(path, sep="\t", na_values=["-", "NA"]).iloc[-1]
        rows.append(
            {
                "rule": rule,
                "s": bench["s"],
                "max_rss": bench["max_rss"],
                "cpu_time": bench["cpu_time"],
                "mtime": path.stat().st_mtime,
            }
        )
    if not rows:
        return pd.DataFrame(columns=BENCHMARK_COLUMNS)
    table = (
        pd.DataFrame(rows)
        .groupby("rule", sort=False)
        .agg(
            jobs=("s", "size"),
            wall=("s", "sum"),
            rss=("max_rss", "max"),
            cpu=("cpu_time", "sum"),
            mtime=("mtime", "max"),
        )
        .reset_index()
        .sort_values("mtime", kind="stable")
    )
    table["mtime"] = pd.to_datetime(table["mtime"], unit="s").dt.strftime("%Y-%m-%d %H:%M")
    table.columns = list(BENCHMARK_COLUMNS)
    return table.round(1)


STAGE_ORDER = ("data", "crop", "groups", "split", "train", "report", "predict")


def stage_table(table: pd.DataFrame, stages: dict[str, str]) -> pd.DataFrame:
    """The per-rule table grouped by stage (the .smk file that defines each rule), in the
    DAG's order, each stage followed by its total."""
    if table.empty:
        return table.assign(stage=[])
    table = table.assign(stage=table["rule"].map(lambda r: stages.get(r, "other")))
    order = {s: k for k, s in enumerate(STAGE_ORDER)}
    parts = []
    for stage in sorted(set(table["stage"]), key=lambda s: (order.get(s, len(order)), s)):
        rows = table[table["stage"] == stage]
        total = {
            "stage": stage,
            "rule": "total",
            "jobs": rows["jobs"].sum(),
            "wall seconds (sum of jobs)": rows["wall seconds (sum of jobs)"].sum(),
            "peak RSS (MB)": rows["peak RSS (MB)"].max(),
            "CPU seconds": rows["CPU seconds"].sum(),
            "last run (UTC)": rows["last run (UTC)"].max(),
        }
        parts += [rows, pd.DataFrame([total])]
    out = pd.concat(parts, ignore_index=True)
    return out[["stage", *BENCHMARK_COLUMNS]].round(1)


def find_seeds(config, prefix: str = "") -> dict[str, object]:
    """Every config key that names a seed, as a dotted path."""
    found = {}
    if isinstance(config, dict):
        for key, value in config.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if "seed" in str(key).lower() and not isinstance(value, dict):
                found[path] = value
            found.update(find_seeds(value, path))
    return found


def package_versions(snakemake_version: str | None = None) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if snakemake_version:
        versions["snakemake"] = snakemake_version
    return versions


def device_table(all_metrics: dict[str, dict]) -> pd.DataFrame:
    rows = [
        {
            "rule": f"train_{model}",
            "device": m.get("device", "?"),
            "train seconds": m.get("train_seconds"),
        }
        for model, m in all_metrics.items()
    ]
    rows.append(
        {"rule": "every other rule", "device": "CPU (no accelerator used)", "train seconds": None}
    )
    return pd.DataFrame(rows)


def section(job) -> None:
    """From the benchmark files (input ``benchmarks``), the config used (``config``) and
    every trained model's metrics (``trained_metrics``, of params ``model_ids``)."""
    import yaml

    from ..io import read_json

    inputs, params = job.input, job.params
    config_text = Path(inputs["config"]).read_text()
    ids = params["model_ids"]
    all_metrics = {m: read_json(p) for m, p in zip(ids, inputs["trained_metrics"], strict=True)}
    table = stage_table(benchmark_table(inputs["benchmarks"]), params["stages"])
    totals = table[table["rule"] == "total"]
    write_section(
        job.output["html"],
        job.template,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        devices_table=html_table(device_table(all_metrics), float_format="{:.1f}".format),
        seeds=find_seeds(yaml.safe_load(config_text)),
        versions=package_versions(params["snakemake_version"]),
        benchmark_table=html_table(table, float_format="{:.1f}".format),
        total_wall=float(totals["wall seconds (sum of jobs)"].sum()),
        total_jobs=int(totals["jobs"].sum()),
        config_yaml=config_text,
    )
