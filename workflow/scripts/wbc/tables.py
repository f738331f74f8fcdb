"""The catalogue of the workflow's tables: where each is written, its columns, their types
and what they mean.

``wbc.io`` reads and writes through it: ``read_table`` gives each catalogued column its
type (``str``: empty cells stay empty strings; ``int`` and ``float``: empty cells are
missing; ``bool``: True/False), and ``write_tsv``/``write_table`` refuse a table whose
columns are not its entry's, so a reader can rely on the header the catalogue states.
A table is found by its path (``find``): the end of the path, with Snakemake's staging
folders (``.staged-…``) left out, matches the entry's pattern. Standard library only:
the data rules' env has no pandas.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath

from . import SPLITS

TYPES = ("str", "int", "float", "bool")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of TYPES
    meaning: str


@dataclass(frozen=True)
class Table:
    name: str
    paths: tuple[str, ...]  # where it is written, relative to the working directory
    meaning: str
    columns: tuple[Column, ...]
    # columns after ``columns`` whose names start with ``family.name`` (p_<class>,
    # setting.<key>): any number, all of ``family.type``
    family: Column | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def type_of(self, column: str) -> str | None:
        for c in self.columns:
            if c.name == column:
                return c.type
        if self.family is not None and column.startswith(self.family.name):
            return self.family.type
        return None

    def family_columns(self, columns: Iterable[str]) -> list[str]:
        """The columns of ``columns`` that belong to the family (e.g. the p_<class>)."""
        if self.family is None:
            return []
        return [c for c in columns if c not in self.names and c.startswith(self.family.name)]

    def check(self, columns: Iterable[str], path: str | PurePath) -> None:
        """Raise ValueError unless ``columns`` are this table's, in its order."""
        columns = list(columns)
        fixed, rest = columns[: len(self.names)], columns[len(self.names) :]
        if tuple(fixed) != self.names or rest != self.family_columns(rest):
            family = f", then {self.family.name}…" if self.family else ""
            raise ValueError(
                f"{path}: columns {', '.join(columns)} are not those of table "
                f"'{self.name}' in wbc/tables.py ({', '.join(self.names)}{family}); "
                "write the catalogue's columns, or change its entry"
            )


def _text(name: str, meaning: str) -> Column:
    return Column(name, "str", meaning)


IMAGE = _text("image", "the image's path in the dataset (relative to its root, POSIX)")
LABEL = _text("label", "its class: the name of its class folder, upper-case")
GROUP = _text("group", "its source cell (results/groups.tsv): copies of one cell share it")
FOLDER = _text("split", "the dataset folder it is filed in: TRAIN, TEST or TEST_SIMPLE")
CROP = _text("crop", "its crop's file (results/crops/<method>/<shard>/<image>.png)")
BOX = ("x0", "y0", "x1", "y1")

MANIFEST = Table(
    "manifest",
    ("results/manifest.tsv",),
    "every image of the dataset, one row each (rule manifest)",
    (
        IMAGE,
        FOLDER,
        LABEL,
        _text("sha256", "the SHA-256 of its bytes"),
        Column("width", "int", "width in pixels, from the header; empty when unreadable"),
        Column("height", "int", "height in pixels; empty when unreadable"),
        Column("bytes", "int", "the file's size"),
        _text("duplicate_of", "the first image with the same bytes, or empty"),
    ),
)
SHARD_LIST = Table(
    "shard list",
    ("results/shards/{shard}.tsv",),
    "the images of one crop shard (a stable hash of the path; checkpoint shard_lists)",
    (IMAGE, _text("sha256", "the SHA-256 of its bytes")),
)
_QC = (
    IMAGE,
    _text("status", "cropped, no_cell_found (used uncropped) or unreadable"),
    *(Column(c, "int", "crop box corner, in the 10-px padded frame") for c in BOX),
    Column("contour_area", "float", "area of the cell's contour, in pixels"),
    CROP,
    _text("reason", "why the crop failed, or empty"),
)
CROP_QC_SHARD = Table(
    "crop QC of a shard",
    ("results/qc/crops/{method}/{shard}.tsv",),
    "one shard's crops by one crop method (rule crop_shard; its crop column is filled "
    "by wbc.crop.crop_paths when read)",
    _QC,
)
CROP_QC = Table(
    "crop QC",
    ("results/qc/crops.tsv",),
    "every image's crop by the run's crop method (rule crop_qc)",
    (
        *_QC,
        _text("label_conflict", "the copies of its bytes under another label"),
        _text("copy_of_train", "the TRAIN image a TEST/TEST_SIMPLE image copies byte for byte"),
    ),
)
GROUPS = Table(
    "groups",
    ("results/groups.tsv",),
    "each image's source cell (rule groups, wbc.groups)",
    (
        IMAGE,
        GROUP,
        _text("original", "the original slide it matched, or empty"),
        Column("votes", "int", "the matched slide's votes; empty when unreadable"),
        _text("runner_up", "the second-best slide"),
        Column("runner_up_votes", "int", "its votes"),
        _text("match", "matched, weak, ambiguous, unmatched or unreadable"),
        _text("doubt", "empty, or weak_link / giant: a group the matching cannot vouch for"),
    ),
)
INTEGRITY = Table(
    "integrity",
    ("results/integrity.tsv",),
    "one verdict per image (rule integrity): whether the split files keep it, and each "
    "check's finding",
    (
        IMAGE,
        FOLDER,
        LABEL,
        GROUP,
        Column("kept", "bool", "False: left out of every split file"),
        _text("reason", "the checks that left it out, with the config key that decides"),
    ),
    # not imported from wbc.integrity: every rule reads this catalogue, and adding a check
    # must rerun only the integrity rule and what follows it
    family=_text("", "one column per check of wbc.integrity.CHECKS: its finding, or empty"),
)
SPLIT = Table(
    "split",
    tuple(f"results/splits/{name}.tsv" for name in SPLITS),
    "the images a model trains on (train), is tuned on (val) and is scored on (rule split)",
    (IMAGE, LABEL, GROUP, CROP),
)
TEST_LEAKS = Table(
    "test leaks",
    ("results/splits/test_leaks.tsv",),
    "TEST/TEST_SIMPLE images that TRAIN holds too (from results/integrity.tsv)",
    (
        IMAGE,
        _text("folder", "TEST or TEST_SIMPLE"),
        LABEL,
        _text("kind", "byte-identical copy, or same source cell"),
        _text("train_image", "the TRAIN image it copies"),
        GROUP,
        Column("scored", "bool", "whether a test split file holds it"),
    ),
)
FOLDS = Table(
    "folds",
    ("results/splits/folds.tsv",),
    "each TRAIN image's held-out fold (split.folds >= 2, rule folds)",
    (IMAGE, LABEL, GROUP, Column("fold", "int", "the fold that holds it out, 1 to K")),
)
_SCORED_SPLIT = _text("split", "the split it was scored on: cv, val, test or test_simple")
PREDICTIONS = Table(
    "predictions",
    (
        "results/models/{model}/predictions.tsv",
        "results/models/{model}/folds/{fold}/predictions.tsv",
    ),
    "a model's prediction for every image it was scored on",
    (IMAGE, _SCORED_SPLIT, LABEL, GROUP, _text("predicted", "the class it predicted")),
    family=Column("p_", "float", "p_<class>: its probability of each class, in class order"),
)
_FIGURES = (
    ("n", "int", "images scored"),
    ("accuracy", "float", "share of images predicted right"),
    ("macro_precision", "float", "precision, mean over classes"),
    ("macro_recall", "float", "recall, mean over classes"),
    ("macro_f1", "float", "F1, mean over classes"),
    ("n_groups", "int", "source cells scored"),
    ("balanced_accuracy", "float", "recall, mean over classes"),
    *(
        (f"{m}_{end}", "float", f"{m}: {side} of its 95 % interval (bootstrap over cells)")
        for m in ("accuracy", "balanced_accuracy", "macro_f1")
        for end, side in (("lo", "lower end"), ("hi", "upper end"))
    ),
    ("cell_accuracy", "float", "accuracy with each source cell's images weighted as one"),
    ("baseline_accuracy", "float", "accuracy of always predicting the largest class"),
    ("ece", "float", "expected calibration error"),
)
METRICS = Table(
    "metrics",
    ("results/report/metrics.tsv",),
    "one row per model and split scored (rule report_comparison)",
    (
        _text("model", "the model id"),
        _SCORED_SPLIT,
        *(Column(*figure) for figure in _FIGURES),
        _text("family", "the model family (rf, vgg16, cnn, ensemble)"),
        _text("recipe", "config key models.recipe"),
        _text("seed", "its seed"),
        _text("source", "the data source"),
        _text("workflow_commit", "the workflow's git commit"),
    ),
    family=_text("setting.", "setting.<key>: each setting of the model"),
)

COMPARISONS = Table(
    "comparisons",
    ("results/report/comparisons.tsv",),
    "each pair of models scored on the same images: the difference of their accuracies, "
    "paired over source cells (rule report_comparison)",
    (
        _text("split", "the split both were scored on"),
        _text("model_a", "the first model id"),
        _text("model_b", "the second model id"),
        Column("accuracy_a", "float", "the first model's accuracy"),
        Column("accuracy_b", "float", "the second model's accuracy"),
        Column("difference", "float", "accuracy_a - accuracy_b"),
        Column("difference_lo", "float", "lower end of its 95 % interval"),
        Column("difference_hi", "float", "upper end of its 95 % interval"),
        Column("p_value", "float", "two-sided p-value of no difference"),
        Column("significant", "bool", "whether the interval leaves out 0"),
    ),
)
SEEDS = Table(
    "seeds",
    ("results/report/seeds.tsv",),
    "models trained once per seed (models.seeds): mean and spread across seeds",
    (
        _text("model", "the model id without its seed"),
        _text("split", "the split scored"),
        Column("seeds", "int", "seeds trained"),
        *(
            Column(f"{m}_{stat}", "float", f"{stat} of {m} across seeds")
            for m, stat in (
                ("accuracy", "mean"),
                ("accuracy", "sd"),
                ("accuracy", "min"),
                ("accuracy", "max"),
                ("macro_f1", "mean"),
                ("macro_f1", "sd"),
            )
        ),  # fmt: skip
    ),
)


def class_probabilities(predictions) -> tuple[list, object]:
    """The classes of a predictions table (a DataFrame of PREDICTIONS) and its p_<class>
    columns as a float matrix, one row per image."""
    columns = PREDICTIONS.family_columns(predictions.columns)
    prefix = PREDICTIONS.family.name
    return [c.removeprefix(prefix) for c in columns], predictions[columns].to_numpy(dtype=float)


CATALOGUE: tuple[Table, ...] = (
    MANIFEST,
    SHARD_LIST,
    CROP_QC_SHARD,
    CROP_QC,
    GROUPS,
    INTEGRITY,
    SPLIT,
    TEST_LEAKS,
    FOLDS,
    PREDICTIONS,
    METRICS,
    COMPARISONS,
    SEEDS,
)


def _pattern(path: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", path)
    regex = "".join(re.escape(part) if i % 2 == 0 else r"[^/]+" for i, part in enumerate(parts))
    return re.compile(rf"(^|/){regex}$")


_PATTERNS = [(_pattern(path), table) for table in CATALOGUE for path in table.paths]


def find(path: str | PurePath) -> Table | None:
    """The catalogue's entry for a table written or read at ``path`` (None: not one of
    the workflow's catalogued tables)."""
    parts = [p for p in PurePath(path).as_posix().split("/") if not p.startswith(".staged-")]
    posix = "/".join(parts)
    for pattern, table in _PATTERNS:
        if pattern.search(posix):
            return table
    return None
