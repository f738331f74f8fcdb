"""Unit tests of the training modules: arrays on disk, metrics, the model builders."""

from __future__ import annotations

import csv
import logging

import numpy as np
import pytest

from wbc import CLASSES
from wbc.arrays import ArrayCache, NpyRows, build_image_array, write_npy
from wbc.metrics import evaluate, prediction_columns, predictions_frame, write_predictions
from wbc.runtime import UserError


def test_npy_rows_read_any_order(tmp_path):
    data = np.arange(5 * 4 * 3, dtype=np.float32).reshape(5, 4, 3)
    path = tmp_path / "a.npy"
    write_npy(path, data.shape, np.float32, [data[:2], data[2:]])
    np.testing.assert_array_equal(np.load(path), data)  # a valid .npy
    rows = NpyRows(path)
    assert len(rows) == 5 and rows.row_shape == (4, 3)
    np.testing.assert_array_equal(rows.read([4, 0, 2]), data[[4, 0, 2]])
    np.save(tmp_path / "b.npy", data)  # np.save's (version 1) header reads too
    np.testing.assert_array_equal(NpyRows(tmp_path / "b.npy").read([1]), data[[1]])


def test_write_npy_refuses_a_short_array(tmp_path):
    with pytest.raises(ValueError, match="wrote 1 rows"):
        write_npy(tmp_path / "a.npy", (2, 3), np.uint8, [np.zeros((1, 3))])


def test_build_image_array_resizes_and_names_a_bad_crop(tmp_path):
    import cv2

    crop = tmp_path / "c.png"
    cv2.imwrite(str(crop), np.full((40, 20, 3), (0, 0, 255), np.uint8))  # BGR red
    build_image_array([str(crop)], 16, tmp_path / "x.npy")
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (1, 16, 16, 3) and x.dtype == np.uint8
    assert (x[0, :, :, 0] == 255).all() and (x[0, :, :, 2] == 0).all()  # RGB order
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="bad.png"):
        build_image_array([str(tmp_path / "bad.png")], 16, tmp_path / "y.npy")


def test_an_array_rebuilt_resizes_only_the_crops_that_changed(tmp_path):
    import cv2

    crops = []
    for k in range(4):
        crops.append(tmp_path / f"{k}.png")
        cv2.imwrite(str(crops[k]), np.full((30, 30, 3), 40 * k, np.uint8))
    names = [str(c) for c in crops]
    cache = ArrayCache(tmp_path / "cache", "code 16")
    out = tmp_path / "a.npy"
    assert build_image_array(names, 16, out, cache) == 4
    first = np.load(out)
    out.unlink()  # as Snakemake does before a job reruns: the cache keeps the rows
    cv2.imwrite(str(crops[2]), np.full((30, 30, 3), 250, np.uint8))
    assert build_image_array(names[::-1], 16, out, cache) == 1  # a new order, one change
    second = np.load(out)
    np.testing.assert_array_equal(second[[3, 2, 0]], first[[0, 1, 3]])
    assert (second[1] == 250).all()
    # another tag (the rule's code or the size changed): every crop again
    assert build_image_array(names, 16, out, ArrayCache(tmp_path / "cache", "new 16")) == 4
    # a torn cache (keys of other rows) is not used
    (tmp_path / "cache" / "keys.txt").write_text("new 16\nabc\n")
    assert build_image_array(names, 16, out, ArrayCache(tmp_path / "cache", "new 16")) == 4
    np.testing.assert_array_equal(np.load(out), np.load(tmp_path / "cache" / "rows.npy"))


def test_evaluate_against_hand_counts():
    labels = ["EOSINOPHIL", "EOSINOPHIL", "LYMPHOCYTE", "MONOCYTE"]
    probabilities = np.eye(4)[[0, 1, 1, 3]]  # one eosinophil called a lymphocyte
    m = evaluate(labels, probabilities, CLASSES)
    assert m["n"] == 4 and m["accuracy"] == 0.5
    assert m["labels"] == list(CLASSES)
    assert m["confusion_matrix"][0] == [1, 1, 0, 0]
    assert m["per_class"]["LYMPHOCYTE"] == {
        "precision": 0.5,
        "recall": 1.0,
        "f1": pytest.approx(2 / 3),
        "support": 1,
    }
    # MONOCYTE: never predicted; NEUTROPHIL: absent -> zeros, not errors
    assert m["per_class"]["NEUTROPHIL"]["support"] == 0
    assert m["macro_recall"] == pytest.approx((0.5 + 1 + 0 + 0) / 4)


def test_write_predictions(tmp_path):
    frame = predictions_frame("val", ["a.jpeg"], ["MONOCYTE"], [[0.1, 0.2, 0.6, 0.1]], CLASSES)
    write_predictions(tmp_path / "p.tsv", [frame], CLASSES)
    with open(tmp_path / "p.tsv", newline="") as fh:
        (row,) = list(csv.DictReader(fh, delimiter="\t"))
    assert list(row) == prediction_columns(CLASSES)
    assert row["predicted"] == "MONOCYTE" and float(row["p_MONOCYTE"]) == 0.6


def test_cnn_has_the_reference_parameter_count():
    from wbc.models.cnn import build

    assert build(128, len(CLASSES)).count_params() == 36_755_076


def test_vgg16_preprocessing_is_part_of_the_model():
    import keras

    from wbc.models import get

    backbone = get("vgg16").backbone(32, None)
    assert not any(w.trainable for w in backbone.weights)
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    base = backbone.get_layer("vgg16")
    expected = base(keras.applications.vgg16.preprocess_input(x.copy()))
    np.testing.assert_allclose(backbone(x), expected, rtol=1e-5, atol=1e-5)


def test_auto_precision_is_bfloat16_only_where_the_cpu_has_its_units(tmp_path):
    import tensorflow as tf

    from wbc.models.keras_loop import bfloat16_units, compute_dtype

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU decides by its compute capability, not by /proc/cpuinfo")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert compute_dtype("auto", bfloat16_units(cpuinfo)) == "bfloat16"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f\n")
    assert compute_dtype("auto", bfloat16_units(cpuinfo)) == "float32"
    assert compute_dtype("auto", bfloat16_units(tmp_path / "absent")) == "float32"  # not Linux
    assert compute_dtype("bfloat16", bfloat16_units(cpuinfo)) == "bfloat16"  # asked for: honoured
    assert compute_dtype("float32", bfloat16_units(cpuinfo)) == "float32"


def test_vgg16_in_bfloat16_gives_float32_features_close_to_float32s(caplog):
    from wbc.models import backbones, get

    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    exact = np.asarray(get("vgg16").backbone(32, None, 7, "float32")(x))
    with caplog.at_level(logging.INFO, logger=backbones.__name__):
        half = get("vgg16").backbone(32, None, 7, "bfloat16")
    assert "computes in bfloat16" in caplog.text
    assert all(w.dtype == "float32" for w in half.weights)  # the same weights as float32's
    features = np.asarray(half(x))
    assert features.dtype == np.float32 and features.shape == exact.shape
    assert not np.array_equal(features, exact)  # really computed in bfloat16
    # within bfloat16's rounding of the largest feature, and ordered alike
    assert np.abs(features - exact).max() <= 0.05 * np.abs(exact).max()
    assert np.corrcoef(features.ravel(), exact.ravel())[0, 1] > 0.999


def test_vgg16_says_when_its_backbone_is_random(caplog):
    from wbc.models import backbones, get

    vgg16 = get("vgg16")
    with caplog.at_level(logging.WARNING, logger=backbones.__name__):
        vgg16.backbone(32, None)
    assert "RANDOM weights" in caplog.text and "models.vgg16.weights: null" in caplog.text
    from wbc.models.training import run_facts

    assert run_facts(vgg16, {"weights": None}) == {"random_backbone": True}
    assert run_facts(vgg16, {"weights": "w.h5"}) == {"random_backbone": False}


def test_vgg16_weights_that_are_not_a_file():
    from wbc.models import get

    with pytest.raises(UserError, match="models.vgg16.weights"):
        get("vgg16").backbone(32, "no/such/file.h5")


def tiny_split(tmp_path, name: str, n: int, seed: int):
    """A split file and its uint8 array: ``n`` random 16 px images of two classes."""
    from wbc.io import write_tsv
    from wbc.models.training import Split

    x = np.random.default_rng(seed).integers(0, 256, size=(n, 16, 16, 3), dtype=np.uint8)
    write_npy(tmp_path / f"{name}.npy", x.shape, np.uint8, [x])
    rows = [{"image": f"{name}/{i}.png", "label": "AB"[i % 2], "group": str(i)} for i in range(n)]
    write_tsv(tmp_path / f"{name}.tsv", rows, ["image", "label", "group"])
    return Split(name, tmp_path / f"{name}.tsv", tmp_path / f"{name}.npy"), x


def test_augmentation_is_reproducible_and_changes_only_training_batches(tmp_path):
    from wbc.models import cnn, keras_loop

    split, x = tiny_split(tmp_path, "train", 8, seed=0)
    plain = keras_loop.batches(split.rows, split.labels, ["A", "B"], 8)
    augmented = keras_loop.batches(
        split.rows, split.labels, ["A", "B"], 8, seed=1, aug=cnn.AUGMENT
    )
    assert np.array_equal(plain[0][0], x.astype(np.float32))  # no aug: the pixels as stored
    first = augmented[0][0]
    assert not np.array_equal(first, plain[0][0])
    assert np.array_equal(augmented[0][1], plain[0][1])  # the labels never change
    augmented.set_epoch(1)
    assert not np.array_equal(augmented[0][0], first)  # another epoch, another draw
    augmented.set_epoch(0)
    assert np.array_equal(augmented[0][0], first)  # the same (seed, epoch): the same draw


def test_the_cnn_augments_train_and_never_val(tmp_path, monkeypatch):
    """The CNN's own fit, spied on: the val batches (best epoch, early stopping) are the
    pixels as they are; test images are scored by predict_rows, which never augments.
    (VGG16's head trains on cached backbone features: nothing to augment.)"""
    from wbc.models import cnn, keras_loop

    calls = []
    real = keras_loop.batches

    def spy(rows, labels, classes, batch_size, **options):
        calls.append((len(rows), options.get("aug"), options.get("mixup")))
        return real(rows, labels, classes, batch_size, **options)

    monkeypatch.setattr(keras_loop, "batches", spy)
    train, _ = tiny_split(tmp_path, "train", 8, seed=0)
    val, _ = tiny_split(tmp_path, "val", 4, seed=1)
    settings = {
        **cnn.FACTS.recipes["improved"],
        "classes": ["A", "B"],
        "seed": 1,
        "deterministic": True,
        "epochs": 1,
        "batch_size": 4,
        "image_size": 16,
        "width": 0.25,
        "dense_units": 8,
        "augment": True,
        "mixup": 0.2,
    }
    cnn.fit(train, val, settings, 1, tmp_path / "resume")
    assert calls == [(8, cnn.AUGMENT, 0.2), (4, None, None)]


def test_mixup_blends_images_and_labels_alike_and_reproducibly(tmp_path):
    from wbc.models import keras_loop

    split, x = tiny_split(tmp_path, "train", 8, seed=0)
    plain = keras_loop.batches(split.rows, split.labels, ["A", "B"], 8)
    mixed = keras_loop.batches(split.rows, split.labels, ["A", "B"], 8, seed=3, mixup=0.2)
    (xp, yp), (xm, ym) = plain[0], mixed[0]
    assert not np.array_equal(xm, xp) and not np.array_equal(ym, yp)
    assert np.allclose(ym.sum(axis=1), 1)

    # each image is lam * itself + (1 - lam) * a partner of its batch, and its label the
    # same blend of the two labels
    def blend_of(i):
        if np.allclose(xm[i], xp[i], atol=1e-3):
            return np.allclose(ym[i], yp[i])
        for j in range(8):
            d = (xp[i] - xp[j]).ravel()
            lam = float(np.dot((xm[i] - xp[j]).ravel(), d) / np.dot(d, d))
            if np.allclose(xm[i], lam * xp[i] + (1 - lam) * xp[j], atol=1e-2):
                # lam read back from float32 pixels is off by ~1e-7: too much for the
                # default tolerance on a label share of ~2e-4 (it failed on AVX-512)
                expected = lam * yp[i] + (1 - lam) * yp[j]
                return 0 <= lam <= 1 and np.allclose(ym[i], expected, atol=1e-5)
        return False

    assert all(blend_of(i) for i in range(8))
    mixed.set_epoch(1)
    other = mixed[0][1]
    mixed.set_epoch(0)
    assert np.array_equal(mixed[0][1], ym) and not np.array_equal(other, ym)


def test_an_epoch_logs_the_figures_over_every_image(tmp_path):
    """The training loop's own epoch (train_on_batch, not model.fit): its val figures are
    model.evaluate's over the same images, a short last batch weighted by its size."""
    import keras

    from wbc.models import cnn, keras_loop

    keras.utils.set_random_seed(3)
    val, _ = tiny_split(tmp_path, "val", 10, seed=1)  # batches of 4, 4 and 2
    batches = keras_loop.batches(val.rows, val.labels, ["A", "B"], 4)
    model = cnn.build(16, 2, 0.25, "gap", 8)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    ours = keras_loop.run_epoch(model, batches, training=False)
    x = val.rows.read(np.arange(10)).astype(np.float32)
    theirs = model.evaluate(x, keras_loop.one_hot(val.labels, ["A", "B"]), 4, 0, return_dict=True)
    assert ours.keys() == theirs.keys() == {"loss", "accuracy"}
    assert ours == pytest.approx(theirs, rel=1e-5)
    before = [w.copy() for w in model.get_weights()]
    trained = keras_loop.run_epoch(model, batches, training=True)
    assert 0 <= trained["accuracy"] <= 1
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_a_training_without_val_logs_no_val_figures(tmp_path, caplog):
    import keras

    from wbc.models import cnn, keras_loop

    keras.utils.set_random_seed(3)
    train, _ = tiny_split(tmp_path, "train", 8, seed=0)
    model = cnn.build(16, 2, 0.25, "gap", 8)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    trainer = keras_loop.Trainer(model, 1, tmp_path / "resume", monitor="val_accuracy")
    batches = keras_loop.batches(train.rows, train.labels, ["A", "B"], 4, shuffle=True)
    with caplog.at_level(logging.INFO, logger=keras_loop.__name__):
        history, _ = trainer.fit(batches, None)  # the final model of a cross-validation
    line = next(r.getMessage() for r in caplog.records if "epoch 1/1" in r.getMessage())
    assert "loss=" in line and "accuracy=" in line and "val_" not in line
    assert history["val_loss"].isna().all()  # history.tsv keeps its columns


def cell_image(lobes=1, cytoplasm_rgb=(200, 170, 190), nucleus_r=18, cell_r=34, size=96):
    """A white cell on a pale field: a cytoplasm disk and a nucleus of ``lobes`` disks
    (3 lobes 4 px apart, as a neutrophil's thin bridges leave them in a mask)."""
    import cv2

    rgb = np.full((size, size, 3), (214, 206, 200), np.uint8)
    c = size // 2
    cv2.circle(rgb, (c, c), cell_r, cytoplasm_rgb, thickness=-1)
    for k in range(lobes):
        angle = 2 * np.pi * k / lobes
        offset = 0 if lobes == 1 else nucleus_r * 0.9
        centre = (int(c + offset * np.cos(angle)), int(c + offset * np.sin(angle)))
        radius = nucleus_r if lobes == 1 else nucleus_r * 2 // 3
        cv2.circle(rgb, centre, radius, (110, 70, 180), thickness=-1)
    return rgb


def test_morphology_counts_lobes_and_measures_the_nucleus():
    from wbc.models.rf import MORPHOLOGY, morphology

    def feature(rgb, name):
        return float(morphology(rgb)[MORPHOLOGY.index(name)])

    assert feature(cell_image(lobes=1), "lobes") == 1
    assert feature(cell_image(lobes=3), "lobes") == 3
    assert feature(cell_image(lobes=1), "solidity") > 0.95
    assert feature(cell_image(lobes=3), "solidity") < 0.9
    # nucleus / cell area: (18 / 34)^2 = 0.28 for the round nucleus
    assert feature(cell_image(lobes=1), "nucleus_cell_ratio") == pytest.approx(0.28, abs=0.05)
    assert feature(cell_image(lobes=1, cell_r=22), "nucleus_cell_ratio") > 0.55
    # cytoplasm colour: orange-red granules (eosinophil) against lilac (neutrophil)
    eosinophil = cell_image(cytoplasm_rgb=(225, 140, 110))
    neutrophil = cell_image(cytoplasm_rgb=(190, 170, 205))
    for name, high, low in (("cytoplasm_red_blue", 0.2, 0.0), ("eosin_fraction", 0.9, 0.1)):
        assert feature(eosinophil, name) > high and feature(neutrophil, name) < low, name


def test_morphology_granularity_and_the_forest_input():
    from wbc.models.rf import MORPHOLOGY, features, morphology

    rng = np.random.default_rng(0)
    smooth = cell_image()
    grainy = smooth.copy()
    cytoplasm = np.abs(smooth.astype(int) - (200, 170, 190)).max(axis=2) <= 2
    grainy[cytoplasm & (rng.random(smooth.shape[:2]) < 0.3)] = (160, 90, 80)
    index = MORPHOLOGY.index("cytoplasm_laplacian")
    assert morphology(grainy)[index] > 3 * morphology(smooth)[index]
    # a blank image gives zeros, not an error; the forest's input gains one column each
    assert not morphology(np.full((64, 64, 3), 210, np.uint8)).any()
    images = np.stack([smooth, grainy])
    plain = features(images, {"features": ["hog"], "pixel_size": 16})
    both = features(images, {"features": ["hog", "morphology"], "pixel_size": 16})
    assert both.shape == (2, plain.shape[1] + len(MORPHOLOGY))
