"""Ensemble: a weighted mean of the models' class probabilities, image by image.

The weights are fitted on out-of-fold predictions (rows with split ``cv``, written by
cross-validation) when every member has them, else on ``val``; never on a test split.
They minimise the log loss of the weighted mean (non-negative, summing to one); a member
whose weight is below ``MIN_WEIGHT`` adds nothing and gets 0, the rest are refitted. A mix
no more accurate than its best member is replaced by that member alone, the mix scored out
of sample (each part of the cells voted by weights fitted on the other parts), as the
members' out-of-fold rows are: on the rows that fitted it a mix is flattered.

Scored on the rows its weights were fitted on, a mix would flatter itself: there each row
is voted by weights fitted without its own cell (``vote``: cross-fitted over
``CROSS_FIT_PARTS`` parts of the cells), so the ensemble's cv or val figure is as honest
as its members'. Test rows and ``predict`` use the weights fitted on all of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import classes_of, evaluate, prediction_columns, probability_columns
from .runtime import UserError

KEY = ["split", "image"]
# the splits weights may be fitted on, in order of preference: out-of-fold, then val
FIT_SPLITS = ("cv", "val")
MIN_WEIGHT = 0.05
CROSS_FIT_PARTS = 5  # the fit split's cells, dealt into this many parts (vote)


def log_loss(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """Mean negative log probability of the true class (``truth``: class indices)."""
    picked = probabilities[np.arange(len(truth)), truth]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))


def _simplex_fit(stack: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to one that minimise the log loss of
    ``sum_m w_m stack[m]`` (stack: members x rows x classes)."""
    from scipy.optimize import minimize

    members = len(stack)
    if members == 1:
        return np.ones(1)
    picked = np.clip(stack[:, np.arange(stack.shape[1]), truth], 1e-7, 1.0)  # m x rows

    def loss(w):
        mix = np.clip(w @ picked, 1e-7, None)
        return -np.mean(np.log(mix)), -(picked / mix).mean(axis=1)

    result = minimize(
        loss,
        np.full(members, 1 / members),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * members,
        constraints=[
            {"type": "eq", "fun": lambda w: w.sum() - 1, "jac": lambda w: np.ones_like(w)}
        ],
    )
    weights = np.clip(result.x, 0, None)
    return weights / weights.sum()


def _mix_weights(stack: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Log-loss weights of every member (stack: members x rows x classes); a member below
    MIN_WEIGHT gets 0 and the others are refitted without it."""
    kept = list(range(len(stack)))
    while True:
        weights = _simplex_fit(stack[kept], truth)
        weak = [k for k, w in zip(kept, weights, strict=True) if w < MIN_WEIGHT]
        if not weak:
            break
        kept.remove(min(weak, key=lambda k: weights[kept.index(k)]))  # the weakest first
    full = np.zeros(len(stack))
    full[kept] = weights
    return full


def _fit_rows(tables: dict[str, pd.DataFrame]):
    """The split weights are fitted on (cv when every member has it, else val), its
    rows (the first member's, sorted by split and image), their true class indices and
    the members' probabilities of them (members x rows x classes)."""
    models = list(tables)
    classes = classes_of(tables[models[0]])
    columns = probability_columns(classes)
    fit_on = next(
        (s for s in FIT_SPLITS if all((t["split"] == s).any() for t in tables.values())), None
    )
    if fit_on is None:
        raise UserError(
            "ensemble: the members share no cv or val predictions to fit weights on; "
            "retrain them on the same split files (snakemake --forcerun split)"
        )
    rows = {m: t[t["split"] == fit_on].set_index(KEY).sort_index() for m, t in tables.items()}
    index = rows[models[0]].index
    for m in models[1:]:
        if not rows[m].index.equals(index):
            raise UserError(
                f"ensemble: {m} and {models[0]} scored different {fit_on} images; retrain "
                "both on the same split files (snakemake --forcerun split)"
            )
    position = {c: i for i, c in enumerate(classes)}
    truth = rows[models[0]]["label"].map(position).to_numpy()
    stack = np.stack([rows[m][columns].to_numpy(dtype=float) for m in models])
    return fit_on, rows[models[0]].reset_index(), truth, stack


def _cross_fitted(stack: np.ndarray, truth: np.ndarray, part: np.ndarray) -> np.ndarray:
    """The log-loss mix's probabilities out of sample: each part of the cells voted by
    weights fitted on the other parts (in sample where there is one part only)."""
    out, parts = np.empty(stack.shape[1:]), np.unique(part)
    for k in parts:
        fit, held = (part != k, part == k) if len(parts) > 1 else (part == k, part == k)
        out[held] = np.tensordot(_mix_weights(stack[:, fit], truth[fit]), stack[:, held], axes=1)
    return out


def fit_weights(tables: dict[str, pd.DataFrame]) -> dict:
    """The members' weights, fitted on out-of-fold rows (split ``cv``) when every member
    has them, else on val; test rows are never read. A member below MIN_WEIGHT gets 0
    and the others are refitted without it; a mix no more accurate than its most
    accurate member gives way to that member alone (``best_member_only``), the mix scored
    out of sample as the members' rows are (``guard``: each part of the cells voted by
    weights fitted without it). Returns the weights by member, the log-loss mix's
    (``mix_weights``), the split and number of rows they were fitted on, and each
    member's and the ensemble's log loss and accuracy there."""
    models = list(tables)
    fit_on, rows, truth, stack = _fit_rows(tables)
    mixed = full = _mix_weights(stack, truth)

    # the mix must earn its place: where it is no more accurate than its best member (a
    # lower log loss need not mean more right answers), that member alone. Judged out of
    # sample: on the rows that fitted it a mix is flattered and wins too often
    def right(probabilities: np.ndarray) -> float:
        return float((probabilities.argmax(axis=1) == truth).mean())

    accuracy = [right(member) for member in stack]
    best = int(np.argmax(accuracy))
    mixed_accuracy = right(np.tensordot(mixed, stack, axes=1))
    # the members' rows are out of sample already (out-of-fold, or val): the mix's
    # must be too
    guard = {
        "mix": round(right(_cross_fitted(stack, truth, cell_parts(rows))), 4),
        "best_member": round(accuracy[best], 4),
    }
    fallback = guard["mix"] <= guard["best_member"]  # a tie: the one model is cheaper
    if fallback:
        full = np.zeros(len(models))
        full[best] = 1.0
    mix = np.tensordot(full, stack, axes=1)
    return {
        "weights": {m: round(float(w), 4) for m, w in zip(models, full, strict=True)},
        "fitted_on": fit_on,
        "fitted_rows": int(len(truth)),
        "best_member_only": bool(fallback),
        "mix_weights": {m: round(float(w), 4) for m, w in zip(models, mixed, strict=True)},
        "guard": guard,
        "log_loss": {
            **{m: round(log_loss(stack[i], truth), 4) for i, m in enumerate(models)},
            "ensemble": round(log_loss(mix, truth), 4),
        },
        "accuracy": {
            **{m: round(accuracy[i], 4) for i, m in enumerate(models)},
            "ensemble": round(right(mix), 4),
            "weighted_mix": round(mixed_accuracy, 4),
        },
    }


def soft_vote(tables: dict[str, pd.DataFrame], weights: dict | None = None) -> pd.DataFrame:
    """The weighted mean of the probability columns of models that scored the same images
    (``weights``: by model, summing to one; None: equal).

    Rows are matched on (split, image), not on order; models that scored different images
    or saw different labels were trained on different split files and are refused.
    """
    if not tables:
        raise UserError(
            "ensemble: no model predictions to combine; "
            "enable models in config key 'models.enabled'"
        )
    (first_model, first), *others = tables.items()
    classes = classes_of(first)
    columns = probability_columns(classes)
    # weights as written to metrics.json (4 decimals): normalised to sum to one
    total_weight = len(tables) if weights is None else sum(weights[m] for m in tables)
    share = {m: (1 if weights is None else weights[m]) / total_weight for m in tables}
    base = first.set_index(KEY).sort_index()
    total = share[first_model] * base[columns].to_numpy(dtype=float, copy=True)
    for model, table in others:
        if classes_of(table) != classes:
            raise UserError(
                f"ensemble: {model} predicts classes {classes_of(table)}, "
                f"{first_model} predicts {classes}; retrain both on the same classes"
            )
        other = table.set_index(KEY).sort_index()
        if not other.index.equals(base.index) or not (other["label"] == base["label"]).all():
            raise UserError(
                f"ensemble: {model} and {first_model} scored different images; they were "
                "trained on different split files: rerun both training rules "
                "(snakemake --forcerun split)"
            )
        total += share[model] * other[columns].to_numpy(dtype=float)
    mean = total
    out = base[["label", "group"]].copy()
    out["predicted"] = np.asarray(classes)[mean.argmax(axis=1)]
    out[columns] = mean
    # back to the first model's row order, so the file diffs cleanly against its inputs
    order = pd.MultiIndex.from_frame(first[KEY])
    return out.reindex(order).reset_index()[prediction_columns(classes)]


def cell_parts(rows: pd.DataFrame, parts: int = CROSS_FIT_PARTS) -> np.ndarray:
    """Each row's part (0..parts-1): its cell's place among the sorted cells, dealt round
    (an image without a cell is its own)."""
    cells = rows["group"].where(rows["group"] != "", rows["image"])
    order = {c: i % parts for i, c in enumerate(sorted(cells.unique()))}
    return cells.map(order).to_numpy()


def vote(tables: dict[str, pd.DataFrame], fit: dict) -> pd.DataFrame:
    """soft_vote with ``fit``'s weights, but on the split the weights were fitted on
    (``fit["fitted_on"]``) a mix's rows are each voted by the mix fitted without their
    part of the cells (cell_parts): no row's own label chose its weights, and the
    ensemble's figure there is the guard's. A best member alone fitted no weights: its
    rows are its own out-of-fold (or val) rows."""
    votes = soft_vote(tables, fit["weights"])
    if fit["best_member_only"]:
        return votes
    _, rows, truth, stack = _fit_rows(tables)
    crossed = _cross_fitted(stack, truth, cell_parts(rows))
    classes = classes_of(votes)
    out = votes.set_index(KEY)
    index = pd.MultiIndex.from_frame(rows[KEY])
    out.loc[index, probability_columns(classes)] = crossed
    out.loc[index, "predicted"] = np.asarray(classes)[crossed.argmax(axis=1)]
    return out.reset_index()[votes.columns]


def ensemble_metrics(
    votes: pd.DataFrame, member_metrics: dict[str, dict], fit: dict | None = None
) -> dict:
    """metrics.json of the ensemble, in the models' schema and computed by the same
    ``evaluate``; ``fit`` (``fit_weights``): its weights and what they were fitted on."""
    classes = classes_of(votes)
    columns = probability_columns(classes)
    result: dict = {"model": "ensemble", "classes": classes, "members": list(member_metrics)}
    if fit is not None:
        result.update(fit)
        # its figure on that split: a mix's rows each voted by weights fitted without
        # their cell (parts); a best member's are its own (no weights were fitted)
        parts = None if fit["best_member_only"] else CROSS_FIT_PARTS
        result["cross_fitted"] = {"split": fit["fitted_on"], "parts": parts}
    for split, rows in votes.groupby("split", sort=False):
        result[split] = evaluate(
            rows["label"].tolist(), rows[columns].to_numpy(), classes, rows["group"].tolist()
        )
    # the ensemble costs what training its members cost; averaging itself is instant
    seconds = [m.get("train_seconds") for m in member_metrics.values()]
    result["train_seconds"] = sum(s for s in seconds if s is not None)
    result["device"] = "CPU (weighs the members' saved probabilities)"
    return result
