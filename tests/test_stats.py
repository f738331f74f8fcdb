"""Intervals, baselines and paired comparisons (wbc.stats, through wbc.metrics.evaluate)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from wbc import CLASSES
from wbc.metrics import evaluate
from wbc.stats import cell_accuracy, paired_difference, scores


def test_confusion_matrix_formulas_are_sklearns():
    """The bootstrap's metric formulas give sklearn's values on the full data, an absent
    class and a never-predicted class included."""
    rng = np.random.default_rng(0)
    labels = rng.choice(CLASSES[:3], 200)  # NEUTROPHIL absent
    predicted = np.where(rng.random(200) < 0.6, labels, rng.choice(CLASSES[:2], 200))
    probabilities = np.eye(4)[[CLASSES.index(p) for p in predicted]]
    m = evaluate(labels, probabilities, CLASSES)
    cm = np.array(m["confusion_matrix"])
    ours = scores(cm)
    assert ours["accuracy"] == pytest.approx(accuracy_score(labels, predicted))
    assert ours["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert m["balanced_accuracy"] == pytest.approx(ours["balanced_accuracy"])
    expected_f1 = f1_score(
        labels, predicted, labels=list(CLASSES), average="macro", zero_division=0
    )
    assert ours["macro_f1"] == pytest.approx(expected_f1) == m["macro_f1"]


def grouped_predictions(cells=40, copies=10, seed=1):
    """Copies of one cell are all right or all wrong together: strongly clustered."""
    rng = np.random.default_rng(seed)
    labels, probabilities, groups = [], [], []
    for cell in range(cells):
        label = CLASSES[cell % 4]
        right = rng.random() < 0.7
        guess = label if right else CLASSES[(cell + 1) % 4]
        labels += [label] * copies
        probabilities += [np.eye(4)[CLASSES.index(guess)]] * copies
        groups += [f"cell{cell}"] * copies
    return labels, np.array(probabilities), groups


def test_cell_bootstrap_is_wider_than_image_bootstrap_on_grouped_data():
    labels, probabilities, groups = grouped_predictions()
    by_cell = evaluate(labels, probabilities, CLASSES, groups)
    by_image = evaluate(labels, probabilities, CLASSES)  # each image its own group
    assert by_cell["accuracy"] == by_image["accuracy"]
    assert by_cell["n_groups"] == 40 and by_image["n_groups"] == 400
    for metric in ("accuracy", "balanced_accuracy", "macro_f1"):
        cell_lo, cell_hi = by_cell["ci95"][metric]
        image_lo, image_hi = by_image["ci95"][metric]
        assert cell_lo <= by_cell[metric] <= cell_hi
        # ten copies of a cell are one piece of evidence: about sqrt(10) times wider
        assert cell_hi - cell_lo > 2 * (image_hi - image_lo), metric
    # the same predictions give the same interval
    assert evaluate(labels, probabilities, CLASSES, groups)["ci95"] == by_cell["ci95"]


def test_baseline_is_the_most_frequent_class_of_the_split():
    # Kaggle's TEST_SIMPLE: 13 eosinophils, 6 lymphocytes, 4 monocytes, 48 neutrophils
    labels = ["EOSINOPHIL"] * 13 + ["LYMPHOCYTE"] * 6 + ["MONOCYTE"] * 4 + ["NEUTROPHIL"] * 48
    always_neutrophil = np.tile(np.eye(4)[3], (len(labels), 1))
    m = evaluate(labels, always_neutrophil, CLASSES)
    assert m["baseline_accuracy"] == pytest.approx(48 / 71) == pytest.approx(0.676, abs=5e-4)
    assert m["accuracy"] == m["baseline_accuracy"]
    assert m["balanced_accuracy"] == pytest.approx(0.25)


def test_cell_accuracy_counts_cells_mostly_right():
    correct = [1, 1, 0, 1, 0, 0, 1, 0]
    groups = ["a", "a", "a", "b", "b", "b", "c", "c"]  # a: 2/3 right, b: 1/3, c: 1/2
    assert cell_accuracy(correct, groups) == pytest.approx(1 / 3)


def test_paired_difference():
    labels, probabilities, groups = grouped_predictions()
    correct = probabilities.argmax(axis=1) == [CLASSES.index(x) for x in labels]
    same = paired_difference(correct, correct, groups)
    assert same["difference"] == 0 and same["ci95"] == [0, 0] and not same["significant"]
    # a model right on every cell against this one: a real difference
    better = paired_difference(np.ones_like(correct), correct, groups)
    assert better["difference"] == pytest.approx(1 - correct.mean())
    assert better["significant"] and better["ci95"][0] > 0 and better["p_value"] < 0.05
    # one cell's copies flipped: not distinguishable on 40 cells
    nearly = correct.copy()
    nearly[np.asarray(groups) == "cell0"] ^= True
    close = paired_difference(nearly, correct, groups)
    assert not close["significant"] and close["ci95"][0] <= 0 <= close["ci95"][1]
