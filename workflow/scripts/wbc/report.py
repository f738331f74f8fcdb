"""The comparison report: figures and tables from the models' artefacts, and one HTML page.

Metrics and curves come from ``sklearn.metrics`` (the numbers were computed by the training
rules with the same library); this module only reads, lays out and draws them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import platform
from importlib import metadata
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay, auc, roc_auc_score, roc_curve
from sklearn.preprocessing import label_binarize

from . import CROPPED, NO_CELL, UNREADABLE

# evaluated splits in display order, and how the report names them
EVAL_SPLITS = {
    "val": "val (random split of TRAIN)",
    "test": "TEST folder",
    "test_simple": "TEST_SIMPLE folder",
}
METRIC_COLUMNS = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
TABLE_COLUMNS = ("model", "split", "n", *METRIC_COLUMNS)
# the reference study's hand-typed figures: accuracy on a random 80/20 split of TRAIN
REFERENCE_ACCURACY = {"rf": 0.79, "vgg16": 0.91, "cnn": 0.965}
MODEL_NAMES = {
    "rf": "Random Forest",
    "vgg16": "VGG16 (frozen) + head",
    "cnn": "custom CNN",
    "ensemble": "ensemble (soft vote)",
}
GALLERY_STATUSES = (CROPPED, NO_CELL, UNREADABLE)
# versions shown under run facts, when installed where the report runs
PACKAGES = (
    "snakemake", "numpy", "pandas", "scikit-learn", "matplotlib", "tensorflow",
    "tensorflow-cpu", "keras", "opencv-python-headless", "pillow", "kagglehub",
)  # fmt: skip

plt.rcParams.update({"figure.dpi": 100, "font.size": 11, "axes.titlesize": 12})


def model_name(model: str) -> str:
    return MODEL_NAMES.get(model, model)


# --- reading the artefacts ---------------------------------------------------------------


def read_tsv(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)


def read_json(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def evaluated_splits(metrics: dict) -> list[str]:
    return [s for s in EVAL_SPLITS if isinstance(metrics.get(s), dict)]


def metrics_table(all_metrics: dict[str, dict]) -> pd.DataFrame:
    """One row per model × evaluated split: the figures of each model's metrics.json."""
    rows = [
        {"model": model, "split": split, **{k: metrics[split][k] for k in ("n", *METRIC_COLUMNS)}}
        for model, metrics in all_metrics.items()
        for split in evaluated_splits(metrics)
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def write_metrics_table(table: pd.DataFrame, path: str | Path) -> None:
    table.to_csv(path, sep="\t", index=False, float_format="%.6f")


def read_metrics_table(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"model": str, "split": str})


def probability_matrix(predictions: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    columns = [c for c in predictions.columns if c.startswith("p_")]
    return [c[2:] for c in columns], predictions[columns].to_numpy(dtype=float)


# --- figures ---------------------------------------------------------------------------------


def _save(fig, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def _message_figure(path: str | Path, text: str) -> None:
    """A figure that says why there is nothing to draw (Snakemake needs the file)."""
    fig, ax = plt.subplots(figsize=(8, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    _save(fig, path)


def plot_comparison(table: pd.DataFrame, path: str | Path) -> None:
    """The reference study's bar chart, redone from data: one panel per evaluated split."""
    splits = [s for s in EVAL_SPLITS if s in set(table["split"])]
    models = list(dict.fromkeys(table["model"]))
    if not splits:
        return _message_figure(path, "no model was evaluated")
    fig, axes = plt.subplots(1, len(splits), figsize=(6.5 * len(splits), 4.6), squeeze=False)
    width = 0.8 / len(models)
    x = np.arange(len(METRIC_COLUMNS))
    for ax, split in zip(axes[0], splits):
        rows = table[table["split"] == split].set_index("model")
        for i, model in enumerate(models):
            if model not in rows.index:
                continue
            values = rows.loc[model, list(METRIC_COLUMNS)].astype(float).to_numpy()
            offset = (i - (len(models) - 1) / 2) * width
            bars = ax.bar(x + offset, values, width, label=model_name(model))
            ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=1)
            if split == "val" and model in REFERENCE_ACCURACY:  # same protocol as theirs
                ax.plot(x[0] + offset, REFERENCE_ACCURACY[model], marker="_", markersize=22,
                        markeredgewidth=2.5, color="black", linestyle="none", label="reference study accuracy")  # fmt: skip
        n = int(rows["n"].astype(int).max())
        ax.set_title(f"{EVAL_SPLITS[split]}, n = {n}")
        ax.set_xticks(x, ["accuracy", "macro\nprecision", "macro\nrecall", "macro F1"])
        ax.set_ylim(0, 1.08)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("score")
    handles, labels = axes[0][0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))  # the reference marker once
    labels, handles = list(unique), list(unique.values())
    fig.legend(
        handles,
        labels,
        loc="upper center",
        ncol=len(labels),
        bbox_to_anchor=(0.5, 1.07),
        frameon=False,
    )
    fig.tight_layout()
    _save(fig, path)


def plot_confusion_matrices(predictions: pd.DataFrame, model: str, path: str | Path) -> None:
    """Counts and row-normalised (recall per true class) side by side, one row per split."""
    classes, _ = probability_matrix(predictions)
    splits = [s for s in EVAL_SPLITS if s in set(predictions["split"])]
    if not splits:
        return _message_figure(path, f"{model}: no evaluated images")
    fig, axes = plt.subplots(len(splits), 2, figsize=(11, 4.6 * len(splits)), squeeze=False)
    for row, split in zip(axes, splits):
        rows = predictions[predictions["split"] == split]
        for ax, normalize, fmt, what in (
            (row[0], None, "d", "counts"),
            (row[1], "true", ".2f", "row-normalised"),
        ):
            ConfusionMatrixDisplay.from_predictions(
                rows["label"], rows["predicted"], labels=classes, normalize=normalize,
                values_format=fmt, cmap="Blues", colorbar=False, ax=ax,
            )  # fmt: skip
            ax.set_title(f"{EVAL_SPLITS[split]}: {what}")
            ax.tick_params(axis="x", labelrotation=20)
    fig.suptitle(f"{model_name(model)}: confusion matrices", fontsize=13)
    fig.tight_layout()
    _save(fig, path)


def roc_summary(labels, probabilities: np.ndarray, classes: list[str]) -> dict:
    """One-vs-rest AUC per class present among ``labels``, and their micro/macro averages."""
    y = label_binarize(labels, classes=classes)
    present = [i for i in range(len(classes)) if 0 < y[:, i].sum() < len(y)]
    if not present:
        return {}
    y, p = y[:, present], probabilities[:, present]
    summary = {classes[i]: float(roc_auc_score(y[:, k], p[:, k])) for k, i in enumerate(present)}
    summary["micro"] = float(roc_auc_score(y, p, average="micro"))
    summary["macro"] = float(roc_auc_score(y, p, average="macro"))
    return summary


def plot_roc_curves(predictions: pd.DataFrame, model: str, path: str | Path) -> None:
    """One-vs-rest ROC per class plus the micro- and macro-average, one panel per split."""
    classes, probabilities = probability_matrix(predictions)
    splits = [s for s in EVAL_SPLITS if s in set(predictions["split"])]
    if not splits:
        return _message_figure(path, f"{model}: no evaluated images")
    fig, axes = plt.subplots(1, len(splits), figsize=(6.2 * len(splits), 5.6), squeeze=False)
    for ax, split in zip(axes[0], splits):
        mask = (predictions["split"] == split).to_numpy()
        labels, p = predictions.loc[mask, "label"], probabilities[mask]
        y = label_binarize(labels, classes=classes)
        present = [i for i in range(len(classes)) if 0 < y[:, i].sum() < len(y)]
        grid = np.linspace(0, 1, 201)
        mean_tpr = np.zeros_like(grid)
        for i in present:
            RocCurveDisplay.from_predictions(y[:, i], p[:, i], name=classes[i], ax=ax)
            fpr, tpr, _ = roc_curve(y[:, i], p[:, i])
            mean_tpr += np.interp(grid, fpr, tpr)  # sklearn's documented macro-average recipe
        if present:
            RocCurveDisplay.from_predictions(
                y[:, present].ravel(), p[:, present].ravel(), name="micro-average", ax=ax,
                curve_kwargs={"linestyle": ":", "linewidth": 3, "color": "black"}, plot_chance_level=True,
            )  # fmt: skip
            mean_tpr /= len(present)
            macro_auc = roc_auc_score(y[:, present], p[:, present], average="macro")
            RocCurveDisplay(
                fpr=grid, tpr=mean_tpr, roc_auc=auc(grid, mean_tpr), name="macro-average"
            ).plot(ax=ax, curve_kwargs={"linestyle": "--", "linewidth": 2.5, "color": "navy"})
            ax.legend(
                loc="lower right",
                fontsize=8,
                title=f"macro AUC (mean of classes) = {macro_auc:.3f}",
                title_fontsize=8,
            )
        missing = [classes[i] for i in range(len(classes)) if i not in present]
        title = EVAL_SPLITS[split]
        if missing:
            title += f"\n(no ROC for {', '.join(missing)}: one class only in this split)"
        ax.set_title(title)
        ax.set_aspect("equal")
    fig.suptitle(f"{model_name(model)}: one-vs-rest ROC curves", fontsize=13)
    fig.tight_layout()
    _save(fig, path)


def plot_training_curves(history: pd.DataFrame, model: str, path: str | Path) -> None:
    """Loss, accuracy and learning rate per epoch, as Keras recorded them."""
    history = history.apply(pd.to_numeric, errors="coerce")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = (
        ("loss", ("loss", "val_loss"), "cross-entropy loss"),
        ("accuracy", ("accuracy", "val_accuracy"), "accuracy"),
        ("learning rate", ("learning_rate",), "learning rate"),
    )
    for ax, (title, columns, ylabel) in zip(axes, panels):
        for column in columns:
            if column in history:
                ax.plot(history["epoch"], history[column], marker="o", label=column)
        ax.set_title(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if len(columns) > 1:
            ax.legend()
    if "learning_rate" in history and (history["learning_rate"] > 0).all():
        axes[2].set_yscale("log")
    fig.suptitle(f"{model_name(model)}: training curves", fontsize=13)
    fig.tight_layout()
    _save(fig, path)


# --- dataset section -------------------------------------------------------------------------


def dataset_tables(
    manifest: pd.DataFrame, qc: pd.DataFrame, splits: dict[str, pd.DataFrame]
) -> dict:
    """Images per folder and class, per split file and class, and crops by status."""
    by_folder = pd.crosstab(
        manifest["split"], manifest["label"], margins=True, margins_name="total"
    )
    split_rows = [frame.assign(split=name) for name, frame in splits.items()]
    all_splits = (
        pd.concat(split_rows, ignore_index=True)
        if split_rows
        else pd.DataFrame(columns=["split", "label"])
    )
    by_split = pd.crosstab(
        all_splits["split"], all_splits["label"], margins=True, margins_name="total"
    )
    by_split = by_split.reindex([s for s in (*splits, "total") if s in by_split.index])
    merged = qc.merge(manifest[["image", "split", "label"]], on="image", how="left")
    by_status = pd.crosstab(merged["status"], merged["split"], margins=True, margins_name="total")
    order = [s for s in (*GALLERY_STATUSES, "total") if s in by_status.index]
    by_folder = by_folder.rename_axis(index="folder")
    tables = {"folders": by_folder, "splits": by_split, "crop_status": by_status.reindex(order)}
    return {name: table.rename_axis(columns=None) for name, table in tables.items()}


def plot_dataset(tables: dict, path: str | Path) -> None:
    """Images per split file and class (stacked bars), and crop QC by status."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    counts = tables["splits"].drop(index="total", columns="total", errors="ignore")
    counts.plot.bar(stacked=True, ax=left, rot=0)
    left.set_title("images per split file and class")
    left.set_xlabel("")
    left.set_ylabel("images")
    left.legend(fontsize=9)
    status = tables["crop_status"].drop(index="total", errors="ignore")["total"]
    status = status.reindex(GALLERY_STATUSES, fill_value=0)
    bars = right.bar(status.index, status.to_numpy(), color=["tab:green", "tab:orange", "tab:red"])
    right.bar_label(bars)
    right.set_title("crop QC: images by status")
    right.set_ylabel("images")
    fig.tight_layout()
    _save(fig, path)


def gallery_selection(qc: pd.DataFrame, manifest: pd.DataFrame, per_status: int) -> pd.DataFrame:
    """Examples to show: the first crop of each class, and the first failures of each kind."""
    merged = qc.merge(manifest[["image", "split", "label"]], on="image", how="left").sort_values(
        "image"
    )
    picks = [
        merged[merged["status"] == CROPPED].groupby("label", sort=True).head(1).head(per_status)
    ]
    for status in (NO_CELL, UNREADABLE):
        picks.append(merged[merged["status"] == status].head(per_status))
    return pd.concat(picks, ignore_index=True)


def _load_image(path: Path):
    from PIL import Image

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except Exception:  # unreadable originals are exactly what the gallery shows
        return None


def plot_gallery(selection: pd.DataFrame, dataset_root: str | Path, path: str | Path) -> None:
    """Original beside crop, two examples per row; failures say what went wrong."""
    if selection.empty:
        return _message_figure(path, "no images were cropped")
    per_row = 2
    nrows = -(-len(selection) // per_row)
    fig, axes = plt.subplots(nrows, 2 * per_row, figsize=(13, 2.9 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, row in enumerate(selection.itertuples(index=False)):
        original_ax, crop_ax = (
            axes[k // per_row][2 * (k % per_row)],
            axes[k // per_row][2 * (k % per_row) + 1],
        )
        original = _load_image(Path(dataset_root) / row.image)
        if original is None:
            original_ax.text(
                0.5,
                0.5,
                f"cannot be decoded:\n{row.reason or 'unreadable'}",
                ha="center",
                va="center",
                fontsize=9,
                wrap=True,
            )
        else:
            original_ax.imshow(original)
        name = Path(row.image).name
        original_ax.set_title(f"{row.label} · {name[:28]}", fontsize=9)
        colour = {CROPPED: "tab:green", NO_CELL: "tab:orange"}.get(row.status, "tab:red")
        crop = _load_image(Path(row.crop)) if row.crop else None
        if crop is None:
            crop_ax.text(0.5, 0.5, "no crop", ha="center", va="center", fontsize=10)
        else:
            crop_ax.imshow(crop)
        crop_ax.set_title(f"crop: {row.status}", fontsize=10, color=colour, fontweight="bold")
    fig.tight_layout()
    _save(fig, path)


# --- run facts -------------------------------------------------------------------------------


BENCHMARK_COLUMNS = (
    "rule", "jobs", "wall seconds (sum of jobs)", "peak RSS (MB)", "CPU seconds", "last run (UTC)"
)  # fmt: skip


def benchmark_table(benchmark_dir: str | Path) -> pd.DataFrame:
    """Wall time and peak memory per rule from Snakemake's benchmark files.

    The folder also keeps files of rules this run did not need (a model since disabled):
    the date of each rule's newest file tells them apart.
    """
    rows = []
    root = Path(benchmark_dir)
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
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
            "rule": f"train_{model}" if model != "ensemble" else "ensemble",
            "device": m.get("device", "?"),
            "train seconds": m.get("train_seconds"),
        }
        for model, m in all_metrics.items()
    ]
    rows.append(
        {"rule": "every other rule", "device": "CPU (no accelerator used)", "train seconds": None}
    )
    return pd.DataFrame(rows)


# --- the HTML page ---------------------------------------------------------------------------


def data_uri(path: str | Path) -> str:
    """A PNG inlined into the page, so the report is one file that needs no server."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def html_table(frame: pd.DataFrame, index: bool = False, float_format="{:.3f}".format) -> str:
    if index:  # the row axis's name goes in the header row, not on a row of its own
        frame = frame.reset_index()
    return frame.to_html(
        index=False, border=0, classes="table", float_format=float_format, na_rep="", escape=True
    )


def per_class_table(metrics: dict, split: str) -> pd.DataFrame:
    per_class = metrics[split]["per_class"]
    table = pd.DataFrame.from_dict(per_class, orient="index")[
        ["precision", "recall", "f1", "support"]
    ]
    table.index.name = "class"
    return table.reset_index()


def split_auc(predictions: pd.DataFrame, split: str) -> dict:
    rows = predictions[predictions["split"] == split]
    classes, probabilities = probability_matrix(rows)
    return roc_summary(rows["label"], probabilities, classes)


def comparison_with_reference(table: pd.DataFrame) -> pd.DataFrame:
    """The reference study's accuracy next to ours on each evaluated split."""
    models = list(dict.fromkeys(table["model"]))
    accuracy = table.pivot(index="model", columns="split", values="accuracy")
    rows = []
    for model in models:
        row = {"model": model_name(model)}
        reference = REFERENCE_ACCURACY.get(model)
        row["reference study (random split of TRAIN)"] = reference
        for split in EVAL_SPLITS:
            if split in accuracy.columns:
                row[f"ours: {EVAL_SPLITS[split]}"] = accuracy.loc[model, split]
        rows.append(row)
    return pd.DataFrame(rows)


def render(template_path: str | Path, context: dict) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(template_path).parent)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(Path(template_path).name).render(**context)


def build_context(
    *,
    manifest: pd.DataFrame,
    qc: pd.DataFrame,
    splits: dict[str, pd.DataFrame],
    all_metrics: dict[str, dict],
    predictions: dict[str, pd.DataFrame],
    table: pd.DataFrame,
    figures: dict[str, str | Path],
    model_figures: dict[str, dict[str, str | Path]],
    config: dict,
    benchmark_dir: str | Path,
    disabled_models: list[str],
    snakemake_version: str | None = None,
) -> dict:
    """Everything the template shows; tables arrive as HTML strings, figures as data URIs."""
    import yaml

    tables = dataset_tables(manifest, qc, splits)
    has_test = "test" in set(table["split"])
    models = []
    for model, metrics in all_metrics.items():
        per_split = []
        for s in evaluated_splits(metrics):
            aucs = split_auc(predictions[model], s)
            classes = per_class_table(metrics, s)
            classes["ROC AUC"] = classes["class"].map(aucs)
            summary = f"n = {metrics[s]['n']}, accuracy {metrics[s]['accuracy']:.3f}, macro F1 {metrics[s]['macro_f1']:.3f}"
            if aucs:
                summary += f", ROC AUC micro {aucs['micro']:.3f} / macro {aucs['macro']:.3f}"
            per_split.append(
                {"split": EVAL_SPLITS[s], "summary": summary, "table": html_table(classes)}
            )
        models.append(
            {
                "id": model,
                "name": model_name(model),
                "members": ", ".join(model_name(m) for m in metrics.get("members", [])),
                "splits": per_split,
                "figures": {k: data_uri(v) for k, v in model_figures.get(model, {}).items()},
            }
        )
    status_counts = (
        tables["crop_status"]["total"].to_dict() if "total" in tables["crop_status"] else {}
    )
    return {
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "source": config.get("source", ""),
        "n_images": len(manifest),
        "status_counts": {s: int(status_counts.get(s, 0)) for s in GALLERY_STATUSES},
        "folders_table": html_table(tables["folders"], index=True),
        "splits_table": html_table(tables["splits"], index=True),
        "status_table": html_table(tables["crop_status"], index=True),
        "has_test": has_test,
        "split_names": [EVAL_SPLITS[s] for s in EVAL_SPLITS if s in set(table["split"])],
        "metrics_table": html_table(table.assign(model=table["model"].map(model_name))),
        "reference_table": html_table(
            comparison_with_reference(table), float_format="{:.1%}".format
        ),
        "figures": {k: data_uri(v) for k, v in figures.items()},
        "models": models,
        "disabled_models": [model_name(m) for m in disabled_models],
        "config_yaml": yaml.safe_dump(config, sort_keys=False, default_flow_style=False),
        "seeds": find_seeds(config),
        "versions": package_versions(snakemake_version),
        "devices_table": html_table(device_table(all_metrics), float_format="{:.1f}".format),
        "benchmark_table": html_table(benchmark_table(benchmark_dir), float_format="{:.1f}".format),
    }
