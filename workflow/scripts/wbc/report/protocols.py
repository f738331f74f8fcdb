"""Report section: what the protocols mean: how this run split TRAIN (from its config),
why a random split of Kaggle's TRAIN flatters every model, and which figure is the honest
one."""

from __future__ import annotations

from ..io import read_table
from .common import write_section
from .protocol import Protocol


def section(job) -> None:
    """From the split tables (inputs ``splits``, named by params ``split_names``)."""
    splits = {
        name: read_table(path)
        for name, path in zip(job.params["split_names"], job.input["splits"], strict=True)
    }
    write(splits, Protocol.from_params(job.params["protocol"]), job.template, job.output["html"])


def write(splits: dict, protocol, template, out) -> None:
    """``splits``: split name -> its table (results/splits/<split>.tsv)."""
    train_cells = {g for s in ("train", "val") for g in splits.get(s, {}).get("group", [])}
    present = {s for s, t in splits.items() if len(t)}
    write_section(
        out,
        template,
        has_test="test" in present,
        has_test_simple="test_simple" in present,
        train_cells=len(train_cells),
        grouped=protocol.grouped,
        group_by=protocol.group_by,
        folds=protocol.folds,
        val_sentence=protocol.val_sentence(),
        honest=protocol.split_name(protocol.honest_split(present - {"train"})),
    )
