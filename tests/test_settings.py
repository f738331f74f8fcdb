"""Each model's settings are one typed declaration (wbc.models.facts): its recipes, its
config schema and its docs come from it. Milliseconds, no Snakemake."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import yaml

from wbc import models as registry
from wbc.models.facts import CROP_METHODS, Backbone, CropMethod, ModelFacts, crop_setting, setting
from wbc.settings import config_schema, model_settings

REPO = Path(__file__).parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
BASE_SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())

# Each model's recipes as they were written, value by value, before the settings became
# one declaration (commit a6632ce): the declarations must give exactly these, the
# reference recipe above all (it reproduces the reference study). Settings added since
# are marked: a new setting keeps the reference at the study's value. Each model's crop
# method was config key crop.method's (reference by default) until recipes named theirs.
RECIPES_BEFORE = {
    "rf": {
        "reference": {
            "image_size": 128,
            "n_estimators": 100,
            "features": ["pixels"],
            "pixel_size": 128,
            "min_samples_leaf": 1,
            "crop": "reference",
        },
        "improved": {
            "image_size": 64,
            "n_estimators": 300,
            "features": ["pixels", "colour_histogram", "hog"],
            "pixel_size": 16,
            "min_samples_leaf": 1,
            "crop": "reference",
        },
    },
    "vgg16": {
        "reference": {
            "weights": "imagenet",
            "precision": "float32",  # added (issue 23): the study's arithmetic
            "image_size": 128,
            "head": "flatten",
            "epochs": 15,
            "batch_size": 32,
            "learning_rate": 0.001,
            "label_smoothing": 0.0,
            "patience": 5,
            "crop": "reference",
        },
        "improved": {
            "weights": "imagenet",
            "precision": "auto",  # added (issue 23)
            "image_size": 128,
            "head": "gap",
            "epochs": 30,
            "batch_size": 32,
            "learning_rate": 0.001,
            "label_smoothing": 0.1,
            "patience": 8,
            "crop": "reference",
        },
    },
    "cnn": {
        "reference": {
            "image_size": 128,
            "width": 1.0,
            "head": "flatten",
            "dense_units": 1024,
            "epochs": 10,
            "batch_size": 32,
            "optimizer": "sgd",
            "learning_rate": 0.001,
            "momentum": 0.0,
            "schedule": "constant",
            "label_smoothing": 0.0,
            "augment": False,
            "sampling": "images",
            "mixup": 0.0,  # added (issue 22): off, as in the study
            "restore_best": False,
            "patience": None,
            "crop": "reference",
        },
        "improved": {
            "image_size": 64,
            "width": 0.5,
            "head": "gap",
            "dense_units": 256,
            "epochs": 10,  # was 15 (issue 22: cross-validation)
            "batch_size": 32,
            "optimizer": "adam",
            "learning_rate": 0.001,
            "momentum": 0.0,
            "schedule": "cosine",
            "label_smoothing": 0.1,
            "augment": False,
            "sampling": "images",
            "mixup": 0.0,  # added (issue 22)
            "restore_best": False,  # was True (issue 22: cross-validation)
            "patience": None,
            "crop": "nucleus_window",  # was crop.method's, reference (issue 22)
        },
    },
}


def typed(settings: dict) -> dict:
    """Values with their types: 1.0 and 1 are different settings (and params)."""
    return {k: (type(v).__name__, v) for k, v in settings.items()}


@pytest.mark.parametrize("recipe", ["reference", "improved"])
@pytest.mark.parametrize("model", list(RECIPES_BEFORE))
def test_effective_settings_are_those_of_the_recipes_before(model, recipe):
    config = copy.deepcopy(CONFIG)
    config["models"]["recipe"] = recipe
    expected = {
        "recipe": recipe,
        **RECIPES_BEFORE[model][recipe],
        "seed": config["models"]["seed"],
        "deterministic": config["models"]["deterministic"],
    }
    got = model_settings(config, model)
    assert typed(got) == typed(expected)
    assert list(got) == list(expected)  # the same order too (the params Snakemake hashes)


def test_crop_method_set_in_the_config_crops_every_model_that_way_but_a_models_own_wins():
    config = copy.deepcopy(CONFIG)
    assert config["crop"]["method"] is None  # the default: each recipe's
    config["crop"]["method"] = "nucleus_window"
    config["models"]["rf"] = {"variants": {"ref": {"crop": "reference"}}}
    for model in registry.MODELS:
        assert model_settings(config, model)["crop"] == "nucleus_window", model
    assert model_settings(config, "rf-ref")["crop"] == "reference"
    config["crop"]["method"] = "reference"
    assert model_settings(config, "cnn")["crop"] == "reference"


def test_every_declared_setting_has_a_type_and_a_description():
    for name in registry.MODELS:
        for key, spec in registry.facts_of(name).config.items():
            assert spec["description"].strip(), f"models.{name}.{key}"
            assert "type" in spec or "enum" in spec, f"models.{name}.{key}"


def test_a_model_that_declares_no_crop_has_the_studys_and_may_declare_its_own():
    @dataclass(frozen=True)
    class Plain:
        k: int = setting(3, "Neighbours.")

    plain = ModelFacts("m", "M", "sklearn", "model.joblib", Plain)
    assert plain.recipes["improved"] == plain.recipes["reference"] == {"k": 3, "crop": "reference"}
    assert plain.config["crop"]["enum"] == list(CROP_METHODS) and list(plain.config)[-1] == "crop"

    @dataclass(frozen=True)
    class Windowed:
        k: int = setting(3, "Neighbours.")
        crop: CropMethod = crop_setting("nucleus_window")

    windowed = ModelFacts("m", "M", "sklearn", "model.joblib", Windowed, {"crop": "reference"})
    assert windowed.recipes["improved"]["crop"] == "nucleus_window"
    assert windowed.recipes["reference"]["crop"] == "reference"


def test_a_setting_without_a_description_or_an_undeclared_reference_is_refused():
    @dataclass(frozen=True)
    class Undescribed:
        k: int = setting(3, "")

    with pytest.raises(ValueError, match=r"without a description \['k'\]"):
        ModelFacts("m", "M", "sklearn", "model.joblib", Undescribed)

    @dataclass(frozen=True)
    class Described:
        k: int = setting(3, "Neighbours.")

    with pytest.raises(ValueError, match=r"reference recipe sets undeclared \['n'\]"):
        ModelFacts("m", "M", "sklearn", "model.joblib", Described, reference={"n": 1})


def test_a_frozen_backbone_declares_the_settings_of_its_generic_head():
    @dataclass(frozen=True)
    class Weights:
        weights: str | None = setting("imagenet", "Backbone weights.")
        image_size: int = setting(64, "Side in pixels.")
        precision: str = setting("float32", "Arithmetic of the backbone.")

    backbone = Backbone("ResNet50", "resnet50", "https://example.org/resnet50_notop.h5")
    assert backbone.weights_file == "resnet50_notop.h5"
    with pytest.raises(ValueError, match=r"needs settings \['batch_size', 'epochs'"):
        ModelFacts("m", "M", "tensorflow", "model.keras", Weights, frozen_features=backbone)

    # its own code may read fewer, but the run plan names its features by these two
    @dataclass(frozen=True)
    class WeightsOnly:
        weights: str | None = setting("imagenet", "Backbone weights.")

    with pytest.raises(ValueError, match=r"needs settings \['precision'\]"):
        ModelFacts(
            "m", "M", "tensorflow", "model.keras", WeightsOnly, frozen_features=backbone,
            implementation="wbc.models.m",
        )  # fmt: skip
    facts = ModelFacts(
        "m", "M", "tensorflow", "model.keras", Weights, frozen_features=backbone,
        implementation="wbc.models.m",
    )  # fmt: skip
    assert facts.module == "wbc.models.m"
    assert registry.facts_of("vgg16").module == "wbc.models.backbones"
    assert registry.facts_of("cnn").module == "wbc.models.cnn"


def validation_error(models: dict) -> str:
    config = copy.deepcopy(CONFIG)
    config["models"].update(models)
    try:
        jsonschema.validate(config, config_schema(BASE_SCHEMA))
    except jsonschema.ValidationError as err:
        return f"{'.'.join(map(str, err.absolute_path))}: {err.message}"
    return "valid"


@pytest.mark.parametrize(
    "models, message",
    [
        ({"cnn": {"epochs": 20, "patience": None}}, "valid"),
        ({"cnn": {"head": "max"}}, "models.cnn.head: 'max' is not one of ['flatten', 'gap']"),
        ({"cnn": {"patience": 0}}, "models.cnn.patience: 0 is less than the minimum of 1"),
        ({"cnn": {"width": 0}}, "models.cnn.width: 0 is less than or equal to the minimum of 0"),
        ({"cnn": {"augment": "yes"}}, "models.cnn.augment: 'yes' is not of type 'boolean'"),
        ({"vgg16": {"weights": 3}}, "models.vgg16.weights: 3 is not of type 'string', 'null'"),
        ({"rf": {"features": []}}, "models.rf.features: [] should be non-empty"),
        ({"rf": {"features": ["x"]}}, "models.rf.features.0: 'x' is not one of"),
        ({"rf": {"trees": 3}}, "models.rf: Additional properties are not allowed ('trees'"),
        ({"cnn": {"variants": {"big": {"image_size": 8}}}}, "models.cnn.variants.big.image_size"),
    ],
)
def test_the_generated_schema_checks_each_setting(models, message):
    assert validation_error(models).startswith(message)
