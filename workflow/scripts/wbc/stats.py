"""Statistics a reader can trust: intervals from a bootstrap over source cells, the
majority-class baseline, per-cell accuracy, and paired comparisons of two models.

Copies of one cell are not independent evidence, so every resample draws whole groups
(source cells), with replacement: the cluster bootstrap. It runs on per-group confusion
matrices, so a thousand resamples of thousands of images take milliseconds; the metric
formulas are those of ``sklearn.metrics`` (``evaluate`` reports sklearn's own point values,
and a test checks that the formulas give the same).
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0  # intervals are reproducible: the same predictions give the same interval


def group_index(groups) -> tuple[np.ndarray, int]:
    """Each image's group as 0..G-1 (in order of first appearance), and G."""
    _, first, index = np.unique(
        np.asarray(groups, dtype=str), return_index=True, return_inverse=True
    )
    order = np.argsort(np.argsort(first))  # renumber by first appearance: deterministic
    return order[index], len(first)


def resample_weights(n_groups: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """How often each group is drawn in each resample (resamples x groups)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=resamples)


def group_confusion(true_idx, pred_idx, group_idx, n_groups: int, k: int) -> np.ndarray:
    """Per-group confusion matrices (groups x k x k; rows true, columns predicted)."""
    cms = np.zeros((n_groups, k, k), np.int64)
    np.add.at(cms, (group_idx, true_idx, pred_idx), 1)
    return cms


def scores(cms: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, balanced accuracy and macro F1 of (stacks of) confusion matrices, as
    sklearn defines them (macro F1 over every class, 0 where undefined; balanced accuracy
    the mean recall of the classes present)."""
    cms = np.asarray(cms, dtype=float)
    diag = np.diagonal(cms, axis1=-2, axis2=-1)
    true, pred = cms.sum(axis=-1), cms.sum(axis=-2)
    total = true.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(true > 0, diag / true, 0.0)
        precision = np.where(pred > 0, diag / pred, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        present = true > 0
        return {
            "accuracy": diag.sum(axis=-1) / total,
            "balanced_accuracy": (recall * present).sum(axis=-1) / present.sum(axis=-1),
            "macro_f1": f1.mean(axis=-1),
        }


def interval(values: np.ndarray, level: float = LEVEL) -> list[float]:
    """The percentile interval of bootstrap values."""
    tail = (1 - level) / 2 * 100
    lo, hi = np.nanpercentile(values, [tail, 100 - tail])
    return [float(lo), float(hi)]


def cluster_intervals(true_idx, pred_idx, groups, k: int) -> dict[str, list[float]]:
    """95 % intervals of accuracy, balanced accuracy and macro F1 by resampling groups."""
    group_idx, n_groups = group_index(groups)
    cms = group_confusion(true_idx, pred_idx, group_idx, n_groups, k)
    weights = resample_weights(n_groups)
    resampled = np.einsum("bg,gij->bij", weights, cms)
    return {name: interval(values) for name, values in scores(resampled).items()}


def cell_accuracy(correct, groups) -> float:
    """Share of groups (cells) whose copies are mostly right (more than half)."""
    group_idx, n_groups = group_index(groups)
    right = np.bincount(group_idx, weights=np.asarray(correct, float), minlength=n_groups)
    size = np.bincount(group_idx, minlength=n_groups)
    return float(np.mean(right > size / 2))


def baseline_accuracy(labels) -> float:
    """Accuracy of always answering the split's most frequent class."""
    _, counts = np.unique(np.asarray(labels, dtype=str), return_counts=True)
    return float(counts.max() / counts.sum()) if len(counts) else float("nan")


def paired_difference(correct_a, correct_b, groups) -> dict:
    """Accuracy of model a minus model b on the same images, with the 95 % interval of a
    paired cluster bootstrap (both models scored on the same resampled cells) and a
    two-sided bootstrap p-value; the difference is significant when the interval
    excludes 0."""
    group_idx, n_groups = group_index(groups)
    a = np.bincount(group_idx, weights=np.asarray(correct_a, float), minlength=n_groups)
    b = np.bincount(group_idx, weights=np.asarray(correct_b, float), minlength=n_groups)
    size = np.bincount(group_idx, minlength=n_groups)
    weights = resample_weights(n_groups)
    diffs = (weights @ (a - b)) / (weights @ size)
    lo, hi = interval(diffs)
    tail = min(np.mean(diffs <= 0), np.mean(diffs >= 0))
    return {
        "difference": float((a - b).sum() / size.sum()),
        "ci95": [lo, hi],
        "p_value": float(min(1.0, 2 * tail)),
        "significant": bool(lo > 0 or hi < 0),
    }
