"""The ensemble's weights: fitted on out-of-fold (cv) rows, else val, never on test rows;
members that add nothing get weight 0. Real scikit-learn classifiers make the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.naive_bayes import GaussianNB

from wbc import CLASSES
from wbc.ensemble import cell_parts, ensemble_metrics, fit_weights, log_loss, soft_vote, vote
from wbc.runtime import UserError

PROBABILITIES = [f"p_{c}" for c in CLASSES]
MODELS = {
    "rf": lambda: RandomForestClassifier(n_estimators=50, random_state=0),
    "logreg": lambda: LogisticRegression(max_iter=1000),
    "nb": GaussianNB,
}


def frame(split, images, labels, groups, p):
    table = pd.DataFrame(
        {
            "image": images,
            "split": split,
            "label": labels,
            "group": groups,
            "predicted": np.asarray(CLASSES)[p.argmax(axis=1)],
        }
    )
    return pd.concat([table, pd.DataFrame(p, columns=PROBABILITIES)], axis=1)


def predictions(with_cv: bool = True, noise_member: bool = False, seed: int = 0):
    """predictions.tsv tables: out-of-fold rows of the training images (grouped 5-fold,
    split cv) when ``with_cv``, then val and test rows of the model fitted on train;
    ``noise_member`` adds a model whose probabilities are random."""
    X, y = make_classification(
        n_samples=400, n_features=12, n_informative=6, n_classes=4, flip_y=0.1, random_state=seed
    )
    labels = np.asarray(CLASSES)[y]
    groups = np.asarray([f"cell{i // 4}" for i in range(len(y))])  # 4 copies a cell
    images = np.asarray([f"TRAIN/{labels[i]}/img_{i:03d}.jpeg" for i in range(len(y))])
    train, val, test = slice(0, 240), slice(240, 320), slice(320, 400)
    rng = np.random.default_rng(seed)
    tables = {}
    for name, make in MODELS.items():
        parts = []
        if with_cv:
            oof = cross_val_predict(
                make(),
                X[train],
                labels[train],
                groups=groups[train],
                cv=GroupKFold(5),
                method="predict_proba",
            )
            parts.append(frame("cv", images[train], labels[train], groups[train], oof))
        model = make().fit(X[train], labels[train])
        for split, rows in (("val", val), ("test", test)):
            p = model.predict_proba(X[rows])
            parts.append(frame(split, images[rows], labels[rows], groups[rows], p))
        tables[name] = pd.concat(parts, ignore_index=True)
    if noise_member:
        noise = tables["rf"].copy()
        noise[PROBABILITIES] = rng.dirichlet(np.ones(4), len(noise))
        tables["noise"] = noise
    return tables


def shuffled_test(tables, seed):
    """Every member's test rows with their probabilities permuted and labels kept."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, table in tables.items():
        table = table.copy()
        test = np.flatnonzero(table["split"] == "test")
        table.loc[test, PROBABILITIES] = table.loc[rng.permutation(test), PROBABILITIES].to_numpy()
        out[name] = table
    return out


@pytest.mark.parametrize("with_cv", [True, False], ids=["cv", "val"])
def test_test_rows_never_influence_the_weights(with_cv):
    tables = predictions(with_cv=with_cv)
    fit = fit_weights(tables)
    assert fit["fitted_on"] == ("cv" if with_cv else "val")
    assert fit["fitted_rows"] == (240 if with_cv else 80)
    for seed in range(3):
        assert fit_weights(shuffled_test(tables, seed)) == fit
    # the test is not blind: the rows it is fitted on do move the weights
    moved = {m: t.copy() for m, t in tables.items()}
    fitted = moved["rf"]["split"] == fit["fitted_on"]
    moved["rf"].loc[fitted, PROBABILITIES] = np.full((fitted.sum(), 4), 0.25)
    assert fit_weights(moved)["weights"] != fit["weights"]


def test_a_member_that_adds_nothing_gets_weight_zero():
    fit = fit_weights(predictions(noise_member=True))
    assert fit["weights"]["noise"] == 0
    assert sum(fit["weights"].values()) == pytest.approx(1, abs=1e-3)
    # out of sample the ensemble is at least as accurate as its best member
    chosen = "best_member" if fit["best_member_only"] else "mix"
    assert fit["guard"][chosen] == max(fit["guard"].values())
    if not fit["best_member_only"]:  # a mix: its log loss beats every member's too
        losses = {m: v for m, v in fit["log_loss"].items() if m != "ensemble"}
        assert fit["log_loss"]["ensemble"] <= min(losses.values()) + 1e-4


def test_a_mix_less_accurate_than_its_best_member_gives_way_to_it():
    """Members whose log-loss mix is less accurate than the best of them (one sure of
    itself when wrong, two cautious): the ensemble is its best member alone."""
    rng = np.random.default_rng(8)
    truth = rng.integers(0, 4, 200)

    def member(accuracy, confidence):
        right = rng.random(len(truth)) < accuracy
        guess = np.where(right, truth, (truth + rng.integers(1, 4, len(truth))) % 4)
        p = np.full((len(truth), 4), (1 - confidence) / 3)
        p[np.arange(len(truth)), guess] = confidence
        return frame(
            "val",
            [f"i{k}" for k in range(200)],
            np.asarray(CLASSES)[truth],
            [f"cell{k // 4}" for k in range(200)],
            p,
        )

    tables = {"sure": member(0.8, 0.999), "cautious": member(0.7, 0.4), "other": member(0.65, 0.4)}
    fit = fit_weights(tables)
    accuracy = fit["accuracy"]
    best = max(tables, key=lambda m: accuracy[m])
    assert accuracy["weighted_mix"] < accuracy[best]  # what this case is made for
    assert fit["best_member_only"]
    assert fit["weights"] == {m: float(m == best) for m in tables}
    assert accuracy["ensemble"] == accuracy[best]


@pytest.mark.parametrize(
    ("seed", "noise_member", "mix_kept"),
    [(7, True, False), (2, True, True)],
    ids=["best-member", "mix"],
)
def test_the_mix_earns_its_place_out_of_sample(seed, noise_member, mix_kept):
    """The guard sets the mix, voted part by part by weights fitted on the other parts
    alone (recomputed here), against the members' own out-of-fold accuracy. Seed 7's mix
    beats its best member only in sample, seed 2's only out of sample."""
    tables = predictions(noise_member=noise_member, seed=seed)
    fit = fit_weights(tables)
    assert fit["best_member_only"] is not mix_kept  # both outcomes are exercised
    rows = {
        m: t[t["split"] == "cv"].sort_values("image", ignore_index=True) for m, t in tables.items()
    }
    part = cell_parts(rows["rf"])
    right = 0
    for k in range(5):
        inner = fit_weights({m: t[part != k] for m, t in rows.items()})
        held = soft_vote({m: t[part == k] for m, t in rows.items()}, inner["mix_weights"])
        right += (held["predicted"] == held["label"]).sum()
    best = max((t["predicted"] == t["label"]).mean() for t in rows.values())
    guard = {"mix": round(right / len(part), 4), "best_member": round(best, 4)}
    assert fit["guard"] == guard
    assert fit["best_member_only"] == (guard["mix"] <= guard["best_member"])
    # not blind: judged in sample, each case would have gone the other way
    in_sample = fit["accuracy"]["weighted_mix"]
    if mix_kept:
        assert in_sample < guard["best_member"] < guard["mix"]
    else:
        assert guard["mix"] < guard["best_member"] < in_sample


def test_weighted_vote_and_its_metrics():
    tables = predictions()
    fit = fit_weights(tables)
    votes = soft_vote(tables, fit["weights"])
    index = pd.MultiIndex.from_frame(votes[["split", "image"]])
    expected = sum(
        w * tables[m].set_index(["split", "image"]).loc[index, PROBABILITIES].to_numpy()
        for m, w in fit["weights"].items()
    )
    np.testing.assert_allclose(votes[PROBABILITIES].to_numpy(), expected)
    metrics = ensemble_metrics(votes, {m: {"train_seconds": 1.0} for m in tables}, fit)
    assert metrics["weights"] == fit["weights"] and metrics["fitted_on"] == "cv"
    assert {"cv", "val", "test"} <= set(metrics)
    rows = votes[votes["split"] == "cv"]
    truth = rows["label"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
    assert log_loss(rows[PROBABILITIES].to_numpy(), truth) == pytest.approx(
        fit["log_loss"]["ensemble"], abs=1e-3
    )


def test_members_without_shared_rows_are_refused():
    tables = predictions(with_cv=False)
    tables["nb"] = tables["nb"][tables["nb"]["split"] == "test"]
    with pytest.raises(UserError, match="no cv or val predictions"):
        fit_weights(tables)


@pytest.mark.parametrize(("with_cv", "seed"), [(True, 2), (False, 1)], ids=["cv", "val"])
def test_rows_of_the_fit_split_are_voted_by_weights_fitted_without_their_cells(with_cv, seed):
    tables = predictions(with_cv=with_cv, noise_member=True, seed=seed)
    fit = fit_weights(tables)
    votes = vote(tables, fit).set_index(["split", "image"])
    split = fit["fitted_on"]
    rows = {m: t[t["split"] == split].reset_index(drop=True) for m, t in tables.items()}
    part = cell_parts(rows["rf"])
    assert len(set(part)) == 5
    differs = False
    for k in range(5):
        # recomputed: the mix fitted on the other parts' cells votes this part's rows
        weights = fit_weights({m: t[part != k] for m, t in rows.items()})["mix_weights"]
        held = {m: t[part == k] for m, t in rows.items()}
        expected = soft_vote(held, weights).set_index(["split", "image"])
        assert not set(expected["group"]) & set(rows["rf"].loc[part != k, "group"])
        np.testing.assert_allclose(  # mix_weights are rounded to 4 decimals
            votes.loc[expected.index, PROBABILITIES].to_numpy(),
            expected[PROBABILITIES].to_numpy(),
            atol=1e-3,
        )
        differs |= weights != fit["weights"]
    # the mix is kept, and some part's weights are not the full fit's
    assert not fit["best_member_only"] and differs
    # the ensemble's figure there is the guard's, the one that kept the mix
    fitted = votes.loc[split]
    assert round((fitted["predicted"] == fitted["label"]).mean(), 4) == fit["guard"]["mix"]
    # test rows: the weights fitted on every row of the fit split
    test = soft_vote(tables, fit["weights"]).set_index(["split", "image"]).loc["test"]
    np.testing.assert_allclose(votes.loc["test", PROBABILITIES], test[PROBABILITIES])


def test_a_best_member_alone_keeps_its_own_rows():
    tables = predictions(seed=0)
    fit = fit_weights(tables)
    assert fit["best_member_only"]  # seed 0's mix does not beat rf out of sample
    (best,) = [m for m, w in fit["weights"].items() if w == 1]
    votes = vote(tables, fit)
    np.testing.assert_allclose(votes[PROBABILITIES], tables[best][PROBABILITIES])
    metrics = ensemble_metrics(votes, {m: {} for m in tables}, fit)
    assert metrics["cv"]["accuracy"] == pytest.approx(fit["guard"]["best_member"], abs=1e-4)
    assert metrics["cross_fitted"] == {"split": "cv", "parts": None}
