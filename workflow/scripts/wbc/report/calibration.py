"""Are a model's probabilities probabilities? The reliability diagram of its top-class
confidence (``sklearn.calibration.calibration_curve``), the expected calibration error, and
temperature scaling fitted on a split the headline figure does not use."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from scipy.optimize import minimize_scalar
from sklearn.calibration import calibration_curve

from ..tables import class_probabilities
from .common import save_figure, title

N_BINS = 10
# above this expected calibration error, the headline says the model is badly calibrated
ECE_WARNING = 0.10


probabilities = class_probabilities  # the classes and their p_<class> columns


def top_label(rows: pd.DataFrame, p: np.ndarray | None = None):
    """Each image's confidence (the probability of its predicted class) and whether the
    prediction is right: the pair a reliability diagram compares."""
    classes, probs = probabilities(rows)
    probs = probs if p is None else p
    predicted = np.asarray(classes)[probs.argmax(axis=1)]
    return probs.max(axis=1), (predicted == rows["label"].to_numpy()).astype(int)


def reliability(confidence, correct, n_bins: int = N_BINS) -> pd.DataFrame:
    """One row per non-empty bin of confidence (uniform bins, as ``calibration_curve``
    cuts them): images, mean confidence, accuracy."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, int)
    accuracy, mean_confidence = calibration_curve(
        correct, confidence, n_bins=n_bins, strategy="uniform"
    )
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], confidence)  # calibration_curve's own binning
    counts = np.bincount(bins, minlength=n_bins)
    present = np.flatnonzero(counts)
    return pd.DataFrame(
        {
            "bin_lo": edges[present],
            "bin_hi": edges[present + 1],
            "images": counts[present],
            "mean_confidence": mean_confidence,
            "accuracy": accuracy,
        }
    )


def expected_calibration_error(bins: pd.DataFrame) -> float:
    """Mean |accuracy - confidence| over the bins, weighted by their images."""
    weights = bins["images"] / bins["images"].sum()
    return float((weights * (bins["accuracy"] - bins["mean_confidence"]).abs()).sum())


def fit_temperature(p: np.ndarray, labels, classes) -> float:
    """The temperature T that minimises the log loss of softmax(log p / T) on these
    images (temperature scaling, Guo et al. 2017): one number, fitted on held-out
    predictions, that leaves every argmax, and so the accuracy, unchanged."""
    y = np.searchsorted(classes, labels) if list(classes) == sorted(classes) else None
    if y is None:
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[label] for label in labels])
    logits = np.log(np.clip(p, 1e-12, 1.0))

    def loss(log_t):
        scaled = scale(logits, np.exp(log_t))
        return -np.log(np.clip(scaled[np.arange(len(y)), y], 1e-12, 1.0)).mean()

    return float(np.exp(minimize_scalar(loss, bounds=(-3, 3), method="bounded").x))


def scale(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def calibrate(predictions: pd.DataFrame, split: str, fit_on: str | None) -> dict:
    """Reliability bins and ECE of ``split``; with ``fit_on`` (another split: out-of-fold
    or val predictions), the temperature fitted there and ``split``'s ECE after it."""
    rows = predictions[predictions["split"] == split]
    out = {"split": split, "n": len(rows)}
    if rows.empty:
        return out
    out["bins"] = reliability(*top_label(rows))
    out["ece"] = expected_calibration_error(out["bins"])
    fit_rows = predictions[predictions["split"] == fit_on] if fit_on else rows.iloc[:0]
    if len(fit_rows) and fit_rows["label"].nunique() > 1:
        classes, p_fit = probabilities(fit_rows)
        out["temperature"] = fit_temperature(p_fit, fit_rows["label"].to_numpy(), classes)
        out["fit_on"] = fit_on
        _, p = probabilities(rows)
        scaled = scale(np.log(np.clip(p, 1e-12, 1.0)), out["temperature"])
        out["bins_scaled"] = reliability(*top_label(rows, scaled))
        out["ece_scaled"] = expected_calibration_error(out["bins_scaled"])
    return out


def plot_reliability(result: dict, model: str, titles: dict, split_name: str, path) -> None:
    """Accuracy against confidence per bin (bars: images per bin), the diagonal of a
    perfectly calibrated model, and after temperature scaling where it was fitted."""
    fig, (ax, hist) = plt.subplots(
        2, 1, figsize=(6.4, 6.8), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    bins = result.get("bins")
    if bins is not None:
        ax.plot(
            bins["mean_confidence"],
            bins["accuracy"],
            marker="o",
            color="tab:blue",
            label=f"as predicted: ECE {result['ece']:.3f}",
        )
        width = bins["bin_hi"] - bins["bin_lo"]
        hist.bar(bins["bin_lo"], bins["images"], width=width, align="edge", color="tab:blue")
    if "bins_scaled" in result:
        scaled = result["bins_scaled"]
        ax.plot(
            scaled["mean_confidence"],
            scaled["accuracy"],
            marker="s",
            color="tab:orange",
            label=(
                f"temperature {result['temperature']:.2f} fitted on {result['fit_on']}: "
                f"ECE {result['ece_scaled']:.3f}"
            ),
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy in bin")
    ax.set_title(f"{title(model, titles)}: reliability on {split_name}\n(n = {result['n']})")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    hist.set_xlabel("confidence (probability of the predicted class)")
    hist.set_ylabel("images")
    fig.tight_layout()
    save_figure(fig, path)
