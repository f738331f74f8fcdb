"""The run plan (wbc.plan) from config dicts alone: no Snakemake, milliseconds."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from wbc import models as registry
from wbc.plan import PlanError, RunPlan, fold_outputs, id_pattern, model_outputs

CONFIG = yaml.safe_load((Path(__file__).parents[1] / "config" / "config.yaml").read_text())


def plan(**models) -> RunPlan:
    config = copy.deepcopy(CONFIG)
    predict = models.pop("predict", None)
    config["models"].update(models)
    if predict:
        config["predict"].update(predict)
    return RunPlan(config)


def test_default_config_trains_each_enabled_model_once_and_ensembles_them():
    p = plan()
    assert p.model_ids == list(CONFIG["models"]["enabled"])
    assert p.ensemble_members() == p.model_ids
    assert p.reported_models() == [*p.model_ids, "ensemble"]
    assert p.predict_candidates() == p.reported_models()
    assert p.predict_members() == p.model_ids


def test_variants_and_seeds_make_ids_and_the_ensemble_takes_each_base_first_seed():
    p = plan(
        enabled=["rf", "cnn"],
        seeds=[1, 2],
        cnn={"variants": {"e20": {"epochs": 20}}},
    )
    assert p.model_ids == ["rf_s1", "rf_s2", "cnn_s1", "cnn_s2", "cnn-e20_s1", "cnn-e20_s2"]
    assert p.ensemble_members() == ["rf_s1", "cnn_s1"]
    assert p.ids_of("cnn") == ["cnn_s1", "cnn_s2", "cnn-e20_s1", "cnn-e20_s2"]
    assert p.model_of("cnn-e20_s2") == "cnn"
    assert p.settings("cnn-e20_s2")["epochs"] == 20
    assert p.settings("cnn-e20_s2")["seed"] == 2
    titles = p.titles()
    assert titles["cnn-e20_s2"] == f"{registry.facts_of('cnn').title} (e20, seed 2)"
    # variants are not compared with the reference study
    assert set(p.reference_accuracy()) == {"rf_s1", "rf_s2", "cnn_s1", "cnn_s2"}


def test_one_model_has_no_ensemble_and_predict_can_only_use_it():
    p = plan(enabled=["rf"])
    assert p.reported_models() == ["rf"]
    assert p.predict_candidates() == ["rf"]


def test_backbones_are_shared_by_variants_that_differ_only_in_training():
    p = plan(
        enabled=["vgg16"],
        vgg16={
            "weights": None,
            "precision": "float32",
            "variants": {
                "long": {"epochs": 40},
                "big": {"image_size": 96},
                "half": {"precision": "bfloat16"},
            },
        },
    )
    size = p.settings("vgg16")["image_size"]
    seed = CONFIG["models"]["seed"]
    crop = p.settings("vgg16")["crop"]
    assert p.backbone("vgg16") == p.backbone("vgg16-long") == f"random{seed}-{size}px-{crop}"
    # another arithmetic is other features: its own folder, its precision a param
    assert p.backbone("vgg16-half") == f"random{seed}-{size}px-{crop}-bfloat16"
    assert set(p.backbones()) == {
        ("vgg16", f"random{seed}-{size}px-{crop}"),
        ("vgg16", f"random{seed}-96px-{crop}"),
        ("vgg16", f"random{seed}-{size}px-{crop}-bfloat16"),
    }
    assert p.backbones()["vgg16", p.backbone("vgg16-half")]["precision"] == "bfloat16"
    # the study's recipe keeps the study's arithmetic
    assert plan(recipe="reference").settings("vgg16")["precision"] == "float32"
    assert p.backbone_weights() == {}  # random weights: nothing to fetch
    assert p.arrays() == sorted({(crop, size), (crop, 96)})


def test_arrays_cover_image_models_and_backbones_by_crop_method():
    p = plan(
        enabled=["rf", "vgg16", "cnn"],
        vgg16={"weights": "imagenet"},
        rf={"variants": {"nw": {"crop": "nucleus_window"}}},
    )
    made = {(p.settings(m)["crop"], p.settings(m)["image_size"]) for m in ("rf", "cnn", "vgg16")}
    made.add(("nucleus_window", p.settings("rf-nw")["image_size"]))
    assert p.arrays() == sorted(made)
    # the run's own (the split's, the study's by default) first, then those models name
    assert p.crop_method == "reference"
    assert p.crop_methods() == ["reference", "nucleus_window"]
    assert plan(enabled=["rf"]).crop_methods() == ["reference"]
    assert p.backbone("vgg16").startswith("imagenet-")
    weights = registry.facts_of("vgg16").frozen_features.weights_file
    assert p.backbone_weights() == {weights: "vgg16"}


def test_predict_a_named_model_loads_only_it_and_the_ensemble_loads_its_members():
    assert plan(predict={"model": "cnn"}).predict_members() == ["cnn"]
    p = plan(predict={"model": "ensemble"}, ensemble=["rf", "cnn"])
    assert p.predict_members() == ["rf", "cnn"]
    assert p.predict_candidates() == ["ensemble"]


@pytest.mark.parametrize(
    ("models", "key"),
    [
        ({"enabled": ["rf", "resnet"]}, "models.enabled"),
        ({"ensemble": ["rf", "cnn-big"]}, "models.ensemble"),
        ({"predict": {"model": "svm"}}, "predict.model"),
    ],
)
def test_a_name_that_is_not_in_the_run_names_its_config_key(models, key):
    with pytest.raises(PlanError, match=f"config key '{key}'"):
        plan(**models)


def test_a_backbone_without_its_weights_is_named_for_what_it_is_and_has_no_reference():
    p = plan(enabled=["vgg16", "cnn"], vgg16={"weights": None})
    assert p.random_backbone("vgg16") and not p.random_backbone("cnn")
    assert p.titles()["vgg16"] == "VGG16, random backbone"
    assert p.reference_accuracy()["vgg16"] is None
    assert p.reference_accuracy()["cnn"] == registry.facts_of("cnn").reference_accuracy
    assert p.report_protocol()["backbones"] == {"vgg16": None}
    with_weights = plan(enabled=["vgg16"], vgg16={"weights": "imagenet"})
    assert with_weights.titles()["vgg16"] == registry.facts_of("vgg16").title
    assert (
        with_weights.reference_accuracy()["vgg16"] == registry.facts_of("vgg16").reference_accuracy
    )


def test_the_report_names_the_models_whose_epoch_val_chose():
    p = plan(enabled=["rf", "vgg16", "cnn"], vgg16={"weights": None})
    # VGG16's head stops early on val; the improved CNN keeps its last epoch
    assert p.report_protocol()["tuned_on_val"] == [p.titles()["vgg16"]]
    best = plan(cnn={"restore_best": True}, vgg16={"weights": None})
    assert best.report_protocol()["tuned_on_val"] == [p.titles()["vgg16"], p.titles()["cnn"]]
    # the last epoch of a fixed count, or a single epoch, is no choice made on val
    fixed = plan(cnn={"restore_best": True, "epochs": 1}, vgg16={"epochs": 1})
    assert fixed.report_protocol()["tuned_on_val"] == []
    # with cross-validation a fold chooses on an inner split, and there is no val figure
    folds = plan()
    folds.config["split"]["folds"] = 5
    assert folds.report_protocol()["tuned_on_val"] == []


def test_folds_number_from_one_and_one_fold_means_none():
    p = plan()
    assert p.fold_numbers == []
    p.config["split"]["folds"] = 5
    assert p.fold_numbers == [1, 2, 3, 4, 5]


def test_benchmark_jobs_follow_the_source_the_folds_the_models_and_the_shards(tmp_path):
    config = copy.deepcopy(CONFIG)
    config["models"].update(enabled=["rf", "cnn"], cnn={"variants": {"e20": {"epochs": 20}}})
    config["split"]["folds"] = 2
    config["crop"]["shards"] = 3
    jobs = RunPlan(config).benchmark_jobs()
    count = _counts(jobs)
    assert len(set(map(repr, jobs))) == len(jobs)  # no job twice
    # a Kaggle source: its download and the originals' list; 3 shards group, and crop by
    # each method (the forest's reference, the CNN's nucleus window)
    assert count["download_kaggle"] == count["originals_list"] == 1 and "unpack_zip" not in count
    assert count["group_shard"] == 3 and count["crop_shard"] == 3 * 2
    # every model id trains once and once per fold; the ensemble votes on rf and cnn
    assert count["train_rf"] == 1 and count["train_cnn"] == 2
    assert count["train_rf_fold"] == 2 and count["train_cnn_fold"] == 4
    assert ("train_cnn_fold", {"model": "cnn-e20", "fold": 2}) in jobs
    assert count["folds"] == count["ensemble"] == 1
    assert count["report_model"] == 4  # rf, cnn, cnn-e20 and the ensemble
    assert count["report_training"] == count["report_saliency"] == 2  # the Keras ids
    # the 4 splits' arrays at each (crop, size) of the image models; no backbone
    assert count["training_arrays"] == 4 * len(RunPlan(config).arrays())
    assert "frozen_features" not in count and "backbone_weights" not in count
    # the run facts and the page are made after the others: not theirs to describe
    assert not {"report_run_facts", "report", "predict"} & set(count)

    # a source folder is read in place: no download, no originals list; one fold: none
    config["source"] = str(tmp_path)
    config["split"]["folds"] = 1
    config["models"].update(enabled=["vgg16"], vgg16={"weights": "imagenet"})
    count = _counts(RunPlan(config).benchmark_jobs())
    assert not {"download_kaggle", "unpack_zip", "originals_list", "folds", "ensemble"} & set(
        count
    )
    assert count["backbone_weights"] == 1 and count["frozen_features"] == 4  # one backbone


def _counts(jobs) -> dict[str, int]:
    rules = [rule for rule, _ in jobs]
    return {rule: rules.count(rule) for rule in rules}


def test_a_missing_source_names_its_config_key(tmp_path):
    config = copy.deepcopy(CONFIG)
    config["source"] = str(tmp_path / "nowhere.zip")
    with pytest.raises(PlanError, match="config key 'source'"):
        RunPlan(config)


def test_predict_results_go_to_a_folder_of_the_input_folders_own(tmp_path):
    assert plan().predict_id == "unset"
    a, b = plan(predict={"input": str(tmp_path / "a")}), plan(predict={"input": str(tmp_path)})
    assert a.predict_folder == str(tmp_path / "a")
    assert a.predict_id.startswith("a-") and a.predict_id != b.predict_id


def test_crop_windows_shards_and_disabled_models():
    p = plan(enabled=["rf"])
    assert p.crop_window("nucleus_window") == CONFIG["crop"]["window"]
    assert p.crop_window("reference") is None
    assert list(p.shards) == list(range(CONFIG["crop"]["shards"]))
    assert p.disabled() == [m for m in registry.MODELS if m != "rf"]


def test_id_patterns_match_exactly_the_ids_and_nothing_when_there_are_none():
    import re

    pattern = id_pattern(["cnn", "cnn-e20_s2"])
    assert re.fullmatch(pattern, "cnn-e20_s2") and not re.fullmatch(pattern, "cnn-e20")
    assert not re.fullmatch(id_pattern([]), "")


def test_output_patterns_give_keras_models_a_history():
    assert "history" in model_outputs("cnn") and "history" not in model_outputs("rf")
    assert model_outputs("rf")["model"].endswith(registry.facts_of("rf").model_file)
    assert set(fold_outputs("cnn")) == {"metrics", "predictions", "history"}
