"""Every sentence the report says about how the figures were made, rendered from the run's
config (rule params ``protocol``: split.group_by, split.folds, split.val_fraction,
split.train_copies_in_test, the backbone weights of each model that has one) and its data
(the splits the models were scored on, results/splits/test_leaks.tsv): never a fixed text
that a change of config makes false."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# evaluated splits in display order: cv (pooled out-of-fold predictions over TRAIN) when
# split.folds >= 2, val (one held-out part of TRAIN), the separate test folders
SPLIT_ORDER = ("cv", "val", "test", "test_simple")
FOLDER_SPLITS = {"TEST": "test", "TEST_SIMPLE": "test_simple"}


@dataclass(frozen=True)
class Protocol:
    group_by: str = "source_cell"
    folds: int = 1
    val_fraction: float = 0.2
    train_copies_in_test: str = "drop_cells"
    # model id -> its backbone's weights (imagenet, null or a file), for models with one
    backbones: dict = field(default_factory=dict)
    # the models (by title) whose training chose its epoch on val (one split, no folds)
    tuned_on_val: list = field(default_factory=list)

    @classmethod
    def from_params(cls, params) -> Protocol:
        params = dict(params or {})
        return cls(**{k: params[k] for k in cls.__dataclass_fields__ if k in params})

    @property
    def grouped(self) -> bool:
        return self.group_by == "source_cell"

    # --- names ---------------------------------------------------------------------------

    def split_name(self, split: str) -> str:
        how = "grouped by source cell" if self.grouped else "random split of TRAIN"
        return {
            "val": f"val ({how})",
            "cv": f"cv ({self.folds}-fold out-of-fold, "
            + ("grouped by source cell)" if self.grouped else "random folds of TRAIN)"),
            "test": "TEST folder",
            "test_simple": "TEST_SIMPLE folder",
        }.get(split, split)

    def split_names(self) -> dict[str, str]:
        return {s: self.split_name(s) for s in SPLIT_ORDER}

    def leaky(self, split: str) -> bool:
        """A split of TRAIN made without the source cells: copies of a cell on both sides."""
        return split in ("val", "cv") and not self.grouped

    def honest_split(self, splits) -> str:
        """The split that measures recognition of unseen cells: the TEST folder when
        present, else the pooled cross-validation, else val; without grouping TEST_SIMPLE
        comes before any split of TRAIN (which then holds copies of trained cells)."""
        splits = set(splits)
        order = ("test", "cv", "val", "test_simple")
        if not self.grouped:
            order = ("test", "test_simple", "cv", "val")
        return next((s for s in order if s in splits), sorted(splits)[0] if splits else "val")

    # --- sentences ---------------------------------------------------------------------

    def val_sentence(self) -> str:
        """How val (and cv) were made, and what that means for their figures."""
        return " ".join(s for s in (self.split_sentence(), self.tuned_sentence()) if s)

    def tuned_sentence(self) -> str:
        """Which models' val figures carry the choice of their epoch on val."""
        names = self.tuned_on_val
        if not names:
            return ""
        one = len(names) == 1
        return (
            "The epoch kept of "
            + ("this model's" if one else "each of these models'")
            + f" training is the one that scored best on val: {'; '.join(names)}. "
            + ("Its val figure is" if one else "Their val figures are")
            + " therefore optimistic, the choice made on the images that score it; with "
            "split.folds >= 2 each fold chooses on an inner split of its own cells instead."
        )

    def split_sentence(self) -> str:
        """How TRAIN was split into val (and cv), and what that means for their figures."""
        percent = f"{self.val_fraction:.0%}"
        if self.grouped:
            text = (
                f"val holds {percent} of TRAIN's source cells, each with all its augmented "
                "copies: no cell has copies on both sides of the train/val line (config key "
                "split.group_by: source_cell), so val scores cells no model was trained on."
            )
            if self.folds >= 2:
                text += (
                    f" cv pools the out-of-fold predictions of {self.folds} folds over TRAIN's "
                    "source cells: every TRAIN image is scored once, by a model that never "
                    "saw its cell."
                )
            return text
        text = (
            f"val is a random {percent} of TRAIN's images (config key split.group_by: none, "
            "the reference study's protocol): copies of one cell sit on both sides, so val "
            "scores cells the models were trained on and flatters every model."
        )
        if self.folds >= 2:
            text += f" cv ({self.folds} random folds of TRAIN) is flattered the same way."
        return text

    def copies_sentence(self, leaks: pd.DataFrame, splits) -> str:
        """What the test figures leave out, or keep, of the test images TRAIN holds too."""
        if leaks.empty:
            return ""
        leaks = leaks[leaks["folder"].map(FOLDER_SPLITS).isin(set(splits))]
        if leaks.empty:
            return ""
        scored = leaks["scored"].astype(str) == "True"
        left_out, kept = leaks[~scored], leaks[scored]
        key = f"split.train_copies_in_test: {self.train_copies_in_test}"
        parts = []
        if len(left_out):
            parts.append(
                f"{count(left_out)} that TRAIN holds too {are(left_out)} left out of the "
                f"test figures (config key {key})"
            )
        if len(kept):
            why = {
                "keep": "",
                "drop": ", which leaves out only byte-identical copies; drop_cells leaves "
                "these out too",
            }.get(self.train_copies_in_test, "")
            parts.append(
                f"{count(kept)} that TRAIN holds too {are(kept)} scored (config key "
                f"{key}{why}): on {'it' if len(kept) == 1 else 'those'} the models are "
                "scored on cells they were trained on"
            )
        return "; ".join(parts) + "."

    def unseen(self, split: str, leaks: pd.DataFrame) -> bool:
        """Whether no image of ``split`` comes from a cell any model was trained on."""
        if split in ("val", "cv"):
            return self.grouped
        folder = {v: k for k, v in FOLDER_SPLITS.items()}.get(split)
        if leaks.empty:
            return True
        rows = leaks[(leaks["folder"] == folder) & (leaks["scored"].astype(str) == "True")]
        return rows.empty

    def backbone_words(self) -> dict[str, str]:
        """model id -> what its backbone started from, in words."""
        return {m: backbone_words(w) for m, w in self.backbones.items()}


def backbone_words(weights) -> str:
    if weights is None:
        return "random weights (weights: null): not the reference study's ImageNet backbone"
    if weights == "imagenet":
        return "ImageNet weights"
    return f"weights from {weights}"


def are(leaks: pd.DataFrame) -> str:
    """The verb of ``count(leaks)``: ``is`` for one image, ``are`` for more."""
    return "is" if len(leaks) == 1 else "are"


def count(leaks: pd.DataFrame) -> str:
    """``3 test images of 2 source cells``."""
    cells = leaks["group"].where(leaks["group"] != "", leaks["image"]).nunique()
    images = len(leaks)
    return (
        f"{images} test image{'s' if images != 1 else ''} of {cells} source "
        f"cell{'s' if cells != 1 else ''}"
    )
