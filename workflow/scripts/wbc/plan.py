"""The run plan: every list the rules need that follows from the config alone (model ids,
their registry models, the ensemble's members, the reported models, the feature stages,
predict's candidates) and the config's cross-checks.

Read by the Snakefile at parse time (standard library only) and unit-tested without
Snakemake: ``workflow/rules/common.smk`` (the run's set-up) and ``inputs.smk`` (what each
rule reads) keep only what needs Snakemake (paths of rules' outputs, wildcards, the
source cache, checkpoints). Rules call ``PLAN.<method>`` directly.

Words: a *model* is a registry entry (``rf``, ``cnn``: ``wbc.models.MODELS``); a *model id*
is one trained instance of it, ``<model>[-<variant>][_s<seed>]`` (``cnn-e20_s2``); the
wildcard ``{model}`` holds a model id (or ``ensemble``).
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path

from . import SPLITS
from . import models as registry
from .report.sections import SECTIONS
from .settings import model_ids, model_settings, parse_id
from .source import folder_id, parse_source


def id_pattern(ids) -> str:
    """A wildcard constraint matching exactly these ids (nothing when there are none)."""
    return "|".join(re.escape(i) for i in ids) or "(?!)"


def fold_outputs(model: str) -> dict[str, str]:
    """A fold job's outputs for registry model ``model``, a pattern in {model} and {fold}:
    the held-out cells' predictions (split cv), its metrics, its history."""
    folder = "results/models/{model}/folds/{fold}"
    outputs = {"metrics": f"{folder}/metrics.json", "predictions": f"{folder}/predictions.tsv"}
    if registry.facts_of(model).keras:
        outputs["history"] = f"{folder}/history.tsv"
    return outputs


def model_outputs(model: str) -> dict[str, str]:
    """The training rule's outputs for registry model ``model``, a pattern in {model}."""
    folder = "results/models/{model}"
    outputs = {
        "model": f"{folder}/{registry.facts_of(model).model_file}",
        "metrics": f"{folder}/metrics.json",
        "predictions": f"{folder}/predictions.tsv",
    }
    if registry.facts_of(model).keras:
        outputs["history"] = f"{folder}/history.tsv"
    return outputs


class PlanError(ValueError):
    """A config value the plan cannot follow; the message names the key and the fix."""


class RunPlan:
    """What a config asks the workflow to do, as lists the rules read."""

    def __init__(self, config: dict):
        self.config = config
        try:
            self.source = parse_source(config["source"])
        except ValueError as err:
            raise PlanError(str(err)) from None
        self.check()

    # --- models ----------------------------------------------------------------------

    @cached_property
    def model_ids(self) -> list[str]:
        """Every model id the run trains (wbc.settings.model_ids)."""
        return model_ids(self.config)

    @property
    def enabled(self) -> list[str]:
        """The registry models the run trains (config key models.enabled)."""
        return list(self.config["models"]["enabled"])

    @staticmethod
    def model_of(model_id: str) -> str:
        """The registry model a model id is an instance of."""
        return parse_id(model_id)[0]

    def facts(self, model_id: str):
        return registry.facts_of(self.model_of(model_id))

    def settings(self, model_id: str) -> dict:
        """Everything that decides a model id's training (its rule's params)."""
        return model_settings(self.config, model_id)

    def ids_of(self, model: str) -> list[str]:
        """The run's model ids of registry model ``model``."""
        return [m for m in self.model_ids if self.model_of(m) == model]

    def keras_ids(self) -> list[str]:
        return [m for m in self.model_ids if self.facts(m).keras]

    def disabled(self) -> list[str]:
        """The registry models the run does not train (the report names them)."""
        return [m for m in registry.MODELS if m not in self.enabled]

    def ensemble_members(self) -> list[str]:
        """The model ids the ensemble averages: config key models.ensemble, or each
        enabled model's base settings (no variant, first seed)."""
        chosen = self.config["models"]["ensemble"]
        if chosen:
            return list(chosen)
        first: dict[str, str] = {}
        for model_id in self.model_ids:
            if parse_id(model_id)[1] is None:
                first.setdefault(self.model_of(model_id), model_id)
        return list(first.values())

    def reported_models(self) -> list[str]:
        """The run's model ids, plus the ensemble when it has at least two to vote."""
        ids = list(self.model_ids)
        return ids + ["ensemble"] if len(self.ensemble_members()) > 1 else ids

    def random_backbone(self, model_id: str) -> bool:
        """A model with a pre-trained backbone run without its weights (weights: null)."""
        s = self.settings(model_id)
        return "weights" in s and s["weights"] is None

    def titles(self) -> dict[str, str]:
        """How the report names each model: its registry title (for a backbone run without
        its weights, what it is: e.g. "VGG16, random backbone"), its variant and seed."""
        named = {m: registry.facts_of(m).title for m in registry.MODELS}
        for model_id in self.model_ids:
            _, variant, seed = parse_id(model_id)
            extra = ", ".join(x for x in (variant, seed and f"seed {seed}") if x)
            base = self.facts(model_id).title
            if self.random_backbone(model_id):
                base = f"{base.split()[0]}, random backbone"
            named[model_id] = base + (f" ({extra})" if extra else "")
        return named

    def reference_accuracy(self) -> dict[str, float | None]:
        """The reference study's figure beside each model id that is not a variant and
        has the study's weights (a random backbone is not the study's model)."""
        return {
            m: None if self.random_backbone(m) else self.facts(m).reference_accuracy
            for m in self.model_ids
            if parse_id(m)[1] is None
        }

    # --- splits and the report's protocol ----------------------------------------------

    @property
    def fold_numbers(self) -> list[int]:
        """The cross-validation folds (config key split.folds; none for 1)."""
        folds = self.config["split"].get("folds", 1)
        return list(range(1, folds + 1)) if folds > 1 else []

    def report_protocol(self) -> dict:
        """What the report says of how the figures were made (wbc.report.protocol): a
        change reruns the sections that say it."""
        split = self.config["split"]
        settings = {m: self.settings(m) for m in self.model_ids}
        titles = self.titles()
        return {
            "group_by": split["group_by"],
            "folds": split.get("folds", 1),
            "val_fraction": split["val_fraction"],
            "train_copies_in_test": split["train_copies_in_test"],
            "backbones": {m: s["weights"] for m, s in settings.items() if "weights" in s},
            # the models whose val figure carries the choice of their epoch on val; with
            # cross-validation a fold chooses on an inner split and there is no val figure
            "tuned_on_val": [
                titles[m]
                for m, s in settings.items()
                if not self.fold_numbers
                and s.get("epochs", 1) > 1
                and registry.uses_val(self.model_of(m), s)
            ],
        }

    def report_values(self) -> dict:
        """The values a report section may ask for (wbc.report.sections: Section.params)."""
        return {
            "titles": self.titles(),
            "reference": self.reference_accuracy(),
            "protocol": self.report_protocol(),
            "split_names": list(SPLITS),
            "source": self.config["source"],
            "crop_method": self.crop_method,
            "reported_models": self.reported_models(),
            "model_ids": list(self.model_ids),
            "disabled": self.disabled(),
        }

    # --- the frozen-feature stage -------------------------------------------------------

    def backbone(self, model_id: str) -> str:
        """The backbone settings a model id's features come from, as a folder name
        (``results/features/<model>/<backbone>/``): its weights, image size, crop
        method and precision (float32's folder has no suffix); a random backbone depends
        on the seed."""
        s = self.settings(model_id)
        weights = s["weights"]
        if weights is None:
            tag = f"random{s['seed']}"
        else:
            tag = "imagenet" if weights == "imagenet" else Path(weights).stem
        suffix = "" if s["precision"] == "float32" else f"-{s['precision']}"
        return f"{tag}-{s['image_size']}px-{s['crop']}{suffix}"

    def backbones(self) -> dict[tuple[str, str], dict]:
        """(model, backbone) -> the settings of its features, for this run's model ids of
        every model that declares a frozen backbone (``FACTS.frozen_features``): rule
        frozen_features' jobs, one per split of each (variants that differ only in
        training share their features)."""
        found = {}
        for model_id in self.model_ids:
            if self.facts(model_id).frozen_features is not None:
                s = self.settings(model_id)
                keys = ("weights", "image_size", "crop", "seed", "deterministic", "precision")
                found[self.model_of(model_id), self.backbone(model_id)] = {k: s[k] for k in keys}
        return found

    def backbone_weights(self) -> dict[str, str]:
        """The ImageNet weights files the run fetches (rule backbone_weights: those of
        the backbones with weights 'imagenet') -> the model that declares each."""
        return {
            self.facts(m).frozen_features.weights_file: self.model_of(m)
            for m in self.model_ids
            if self.facts(m).frozen_features is not None
            and self.settings(m)["weights"] == "imagenet"
        }

    def arrays(self) -> list[tuple[str, int]]:
        """The training arrays the run needs, as (crop method, image size): those of the
        image models and of the backbones."""
        made = {
            (self.settings(m)["crop"], self.settings(m)["image_size"])
            for m in self.model_ids
            if self.facts(m).frozen_features is None
        }
        made |= {(b["crop"], b["image_size"]) for b in self.backbones().values()}
        return sorted(made)

    # --- crops and folds ---------------------------------------------------------------

    @property
    def crop_method(self) -> str:
        """The run's crop method (crop.method; null: the study's, reference): its QC table
        feeds the split and the report's gallery."""
        return self.config["crop"]["method"] or "reference"

    def crop_methods(self) -> list[str]:
        """Every crop method the run makes: its own, then any other a model names."""
        named = [self.settings(m)["crop"] for m in self.model_ids]
        return list(dict.fromkeys([self.crop_method, *named]))

    def crop_window(self, method: str) -> int | None:
        """The window of a method that has one (crop.window), else None: a param, so a new
        window re-crops that method only."""
        return self.config["crop"]["window"] if method == "nucleus_window" else None

    @property
    def shards(self) -> range:
        """The crop and grouping shards (crop.shards)."""
        return range(self.config["crop"]["shards"])

    # --- predict ---------------------------------------------------------------------

    @property
    def predict_model(self) -> str:
        return self.config["predict"]["model"]

    @property
    def predict_folder(self) -> str | None:
        """predict.input, absolute, or None."""
        folder = self.config["predict"]["input"]
        return None if folder is None else os.path.abspath(os.path.expanduser(folder))

    @property
    def predict_id(self) -> str:
        """The results folder of predict.input (wbc.source.folder_id): a run on another
        folder replaces nothing."""
        folder = self.predict_folder
        return "unset" if folder is None else folder_id(folder)

    def predict_candidates(self) -> list[str]:
        """The models predict chooses among: the chosen one, or for 'best' every model
        of the run and the ensemble."""
        chosen = self.predict_model
        return self.reported_models() if chosen == "best" else [chosen]

    def predict_members(self) -> list[str]:
        """The trained model ids predict may load."""
        chosen = self.predict_model
        if chosen == "best":
            return list(self.model_ids)
        return self.ensemble_members() if chosen == "ensemble" else [chosen]

    # --- the run facts ----------------------------------------------------------------

    def benchmark_jobs(self) -> list[tuple[str, dict]]:
        """(rule, wildcards) of every job the report's run facts describe: data, crops,
        source cells, models, ensemble and the report's sections (all but the run facts
        and the assembly, which run after them). tests/test_report.py checks it against a
        dry run's jobs."""
        jobs = [
            (rule, {})
            for rule in (
                "manifest",
                "shard_lists",
                "crop_qc",
                "source_cell_index",
                "groups",
                "integrity",
                "split",
                "config_used",
            )
        ]
        if self.source.kind != "folder":
            # a source folder's slides are inputs of the index themselves (no list)
            kind = "download_kaggle" if self.source.kind == "kaggle" else "unpack_zip"
            jobs += [(kind, {}), ("originals_list", {})]
        jobs += [("group_shard", {"shard": s}) for s in self.shards]
        jobs += [("folds", {})] if self.fold_numbers else []
        for section in SECTIONS[:-1]:  # the run facts are the last
            name = f"report_{section.id}"
            models = self.reported_models() if section.per_model else [None]
            jobs += [(name, {"model": m} if m else {}) for m in models]
        jobs += [("report_training", {"model": m}) for m in self.keras_ids()]
        jobs += [("report_saliency", {"model": m}) for m in self.keras_ids()]
        jobs += [("backbone_weights", {"weights_file": f}) for f in self.backbone_weights()]
        for model_id in self.model_ids:
            rule = f"train_{self.model_of(model_id)}"
            jobs.append((rule, {"model": model_id}))
            jobs += [(f"{rule}_fold", {"model": model_id, "fold": k}) for k in self.fold_numbers]
        jobs += [
            ("crop_shard", {"method": m, "shard": s})
            for m in self.crop_methods()
            for s in self.shards
        ]
        jobs += [
            ("training_arrays", {"method": m, "size": size, "split": split})
            for m, size in self.arrays()
            for split in SPLITS
        ]
        jobs += [
            ("frozen_features", {"model": model, "backbone": b, "split": split})
            for model, b in self.backbones()
            for split in SPLITS
        ]
        return jobs + ([("ensemble", {})] if "ensemble" in self.reported_models() else [])

    # --- cross-checks ----------------------------------------------------------------

    def check(self) -> None:
        """The checks the schema cannot make: names that must be models of this run."""
        unknown = [m for m in self.enabled if m not in registry.MODELS]
        if unknown:
            raise PlanError(
                f"config key 'models.enabled': {', '.join(unknown)} not in the model "
                f"registry ({', '.join(registry.MODELS)}; see workflow/scripts/wbc/models/)"
            )
        for member in self.config["models"]["ensemble"] or []:
            if member not in self.model_ids:
                raise PlanError(
                    f"config key 'models.ensemble': {member} is not a model of this run "
                    f"({', '.join(self.model_ids)})"
                )
        chosen = self.predict_model
        if chosen not in ("best", "ensemble", *self.model_ids):
            raise PlanError(
                f"config key 'predict.model': {chosen} is not a model of this run; use "
                f"best, ensemble or one of {', '.join(self.model_ids)}"
            )
