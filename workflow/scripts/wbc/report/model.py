"""Report section: one per model: per-class figures with ROC AUC, confusion matrices,
one-vs-rest ROC curves, and the training curves of models that keep a history."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay, auc, roc_auc_score, roc_curve

from ..tables import class_probabilities
from .common import (
    SPLIT_NAMES,
    evaluated_splits,
    html_table,
    message_figure,
    save_figure,
    title,
    with_interval,
    write_section,
)

probability_matrix = class_probabilities  # the classes and their p_<class> columns


def plot_confusion_matrices(predictions, model: str, titles: dict, path, names=SPLIT_NAMES):
    """Counts and row-normalised (recall per true class) side by side, one row per split."""
    classes, _ = probability_matrix(predictions)
    splits = [s for s in SPLIT_NAMES if s in set(predictions["split"])]
    if not splits:
        return message_figure(path, f"{model}: no evaluated images")
    fig, axes = plt.subplots(len(splits), 2, figsize=(11, 4.6 * len(splits)), squeeze=False)
    for row, split in zip(axes, splits, strict=True):
        rows = predictions[predictions["split"] == split]
        for ax, normalize, fmt, what in (
            (row[0], None, "d", "counts"),
            (row[1], "true", ".2f", "row-normalised"),
        ):
            ConfusionMatrixDisplay.from_predictions(
                rows["label"],
                rows["predicted"],
                labels=classes,
                normalize=normalize,
                values_format=fmt,
                cmap="Blues",
                colorbar=False,
                ax=ax,
            )
            ax.set_title(f"{names[split]}: {what}")
            ax.tick_params(axis="x", labelrotation=20)
    fig.suptitle(f"{title(model, titles)}: confusion matrices", fontsize=13)
    fig.tight_layout()
    save_figure(fig, path)


def one_vs_rest(labels, classes: list[str]) -> np.ndarray:
    """Indicator matrix, one column per class: label_binarize gives two classes one column."""
    return (np.asarray(labels)[:, None] == np.asarray(classes)[None, :]).astype(int)


def roc_summary(labels, probabilities: np.ndarray, classes: list[str]) -> dict:
    """One-vs-rest AUC per class present among ``labels``, and their micro/macro averages."""
    y = one_vs_rest(labels, classes)
    present = [i for i in range(len(classes)) if 0 < y[:, i].sum() < len(y)]
    if not present:
        return {}
    y, p = y[:, present], probabilities[:, present]
    summary = {classes[i]: float(roc_auc_score(y[:, k], p[:, k])) for k, i in enumerate(present)}
    summary["micro"] = float(roc_auc_score(y, p, average="micro"))
    summary["macro"] = float(roc_auc_score(y, p, average="macro"))
    return summary


def plot_roc_curves(predictions, model: str, titles: dict, path, names=SPLIT_NAMES) -> None:
    """One-vs-rest ROC per class plus the micro- and macro-average, one panel per split."""
    classes, probabilities = probability_matrix(predictions)
    splits = [s for s in SPLIT_NAMES if s in set(predictions["split"])]
    if not splits:
        return message_figure(path, f"{model}: no evaluated images")
    fig, axes = plt.subplots(1, len(splits), figsize=(6.2 * len(splits), 5.6), squeeze=False)
    for ax, split in zip(axes[0], splits, strict=True):
        mask = (predictions["split"] == split).to_numpy()
        labels, p = predictions.loc[mask, "label"], probabilities[mask]
        y = one_vs_rest(labels, classes)
        present = [i for i in range(len(classes)) if 0 < y[:, i].sum() < len(y)]
        grid = np.linspace(0, 1, 201)
        mean_tpr = np.zeros_like(grid)
        for i in present:
            RocCurveDisplay.from_predictions(y[:, i], p[:, i], name=classes[i], ax=ax)
            fpr, tpr, _ = roc_curve(y[:, i], p[:, i])
            mean_tpr += np.interp(grid, fpr, tpr)  # sklearn's documented macro-average recipe
        if present:
            RocCurveDisplay.from_predictions(
                y[:, present].ravel(),
                p[:, present].ravel(),
                name="micro-average",
                ax=ax,
                curve_kwargs={"linestyle": ":", "linewidth": 3, "color": "black"},
                plot_chance_level=True,
            )
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
        heading = names[split]
        if missing:
            heading += f"\n(no ROC for {', '.join(missing)}: one class only in this split)"
        ax.set_title(heading)
        ax.set_aspect("equal")
    fig.suptitle(f"{title(model, titles)}: one-vs-rest ROC curves", fontsize=13)
    fig.tight_layout()
    save_figure(fig, path)


def plot_training_curves(history: pd.DataFrame, model: str, titles: dict, path) -> None:
    """Loss, accuracy and learning rate per epoch, as Keras recorded them."""
    history = history.apply(pd.to_numeric, errors="coerce")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = (
        ("loss", ("loss", "val_loss"), "cross-entropy loss"),
        ("accuracy", ("accuracy", "val_accuracy"), "accuracy"),
        ("learning rate", ("learning_rate",), "learning rate"),
    )
    for ax, (heading, columns, ylabel) in zip(axes, panels, strict=True):
        for column in columns:
            if column in history:
                ax.plot(history["epoch"], history[column], marker="o", label=column)
        ax.set_title(heading)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if len(columns) > 1:
            ax.legend()
    if "learning_rate" in history and (history["learning_rate"] > 0).all():
        axes[2].set_yscale("log")
    fig.suptitle(f"{title(model, titles)}: training curves", fontsize=13)
    fig.tight_layout()
    save_figure(fig, path)


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


def section(job) -> None:
    """Model id ``job.model``'s figures (outputs confusion, roc, reliability, errors,
    margins, saliency), its error table (``error_table``) and its fragment (``html``), from
    its metrics and predictions (inputs ``metrics``, ``predictions``) and the split tables
    (``splits``: the crop file of every image it was scored on). The fragment shows its
    training curves too where it has them (input ``training``: rule report_training's
    figure) and, from ``saliency`` (rule report_saliency's maps), where it looked on its
    worst mistakes. Params: ``titles``, ``protocol``, ``root`` (the dataset folder)."""
    from ..io import read_json, read_table, write_table
    from ..metrics import read_predictions
    from .calibration import ECE_WARNING, calibrate, plot_reliability
    from .error_figures import plot_saliency, plot_tiles
    from .errors import TILES, cell_errors, narrow_margins
    from .protocol import Protocol

    inputs, params, out, model = job.input, job.params, job.output, job.model
    metrics, predictions = read_json(inputs["metrics"]), read_predictions(inputs["predictions"])
    training, saliency = inputs.get("training"), inputs.get("saliency")
    titles, root = params["titles"], params["root"]
    protocol = Protocol.from_params(params["protocol"])
    crops = {}
    for path in inputs["splits"]:  # the crop file of every image the model was scored on
        table = read_table(path)
        crops.update(zip(table["image"], table["crop"], strict=True))
    names = protocol.split_names()
    plot_confusion_matrices(predictions, model, titles, out["confusion"], names)
    plot_roc_curves(predictions, model, titles, out["roc"], names)
    figures = {"confusion": out["confusion"], "roc": out["roc"]}
    if training is not None:
        figures["training"] = training
    splits = []
    for split in evaluated_splits(metrics):
        m, aucs = metrics[split], split_auc(predictions, split)
        classes = per_class_table(metrics, split)
        classes["ROC AUC"] = classes["class"].map(aucs)
        ci = m["ci95"]
        summary = (
            f"{m['n']} images of {m['n_groups']} cells; accuracy "
            f"{with_interval(m['accuracy'], ci['accuracy'])}, balanced accuracy "
            f"{with_interval(m['balanced_accuracy'], ci['balanced_accuracy'])}, macro F1 "
            f"{with_interval(m['macro_f1'], ci['macro_f1'])} (95 % intervals over cells); "
            f"cells mostly right {m['cell_accuracy']:.3f}; "
            f"majority-class baseline {m['baseline_accuracy']:.3f}"
        )
        if aucs:
            summary += f", ROC AUC micro {aucs['micro']:.3f} / macro {aucs['macro']:.3f}"
        splits.append({"name": names[split], "summary": summary, "table": html_table(classes)})

    honest = protocol.honest_split(set(predictions["split"]))
    rows = predictions[predictions["split"] == honest]
    errors = cell_errors(rows, crops)
    write_table(out["error_table"], errors, float_format="%.6f")
    margins = narrow_margins(rows, crops)
    plot_tiles(errors.head(TILES), "errors", root, model, titles, names[honest], out["errors"])
    plot_tiles(margins, "margins", root, model, titles, names[honest], out["margins"])
    if saliency is not None:
        with np.load(saliency) as maps:
            plot_saliency(dict(maps), model, titles, names[honest], out["saliency"])
        figures["saliency"] = out["saliency"]
    else:
        message_figure(out["saliency"], f"{title(model, titles)}: no saliency (not a Keras model)")
    fit_on = calibration_split(honest, set(predictions["split"]))
    calibration = calibrate(predictions, honest, fit_on)
    plot_reliability(calibration, model, titles, names[honest], out["reliability"])
    figures.update(errors=out["errors"], margins=out["margins"], reliability=out["reliability"])
    write_section(
        out["html"],
        job.template,
        id=model,
        name=title(model, titles),
        members=", ".join(
            title(m, titles)
            + (f" (weight {metrics['weights'][m]:.2f})" if "weights" in metrics else "")
            for m in metrics.get("members", [])
        ),
        fitted_on=metrics.get("fitted_on"),
        fitted_rows=metrics.get("fitted_rows"),
        guard=metrics.get("guard"),  # older runs' metrics have none
        best_member_only=metrics.get("best_member_only"),
        backbone=protocol.backbone_words().get(model, ""),
        splits=splits,
        honest=names[honest],
        n_cells=int(rows["group"].nunique()),
        n_errors=len(errors),
        n_tiles=min(len(errors), TILES),
        n_margins=len(margins),
        ece=calibration.get("ece"),
        ece_warning=ECE_WARNING,
        temperature=calibration.get("temperature"),
        ece_scaled=calibration.get("ece_scaled"),
        fit_on=names.get(fit_on, "") if fit_on else "",
        figures=figures,
        captions=job.captions,
    )


def calibration_split(honest: str, splits: set[str]) -> str | None:
    """Where a calibration may be fitted without touching the honest split: the pooled
    out-of-fold predictions, else val, when the honest split is neither."""
    for split in ("cv", "val"):
        if split in splits and split != honest and honest not in ("cv", "val"):
            return split
    return None
