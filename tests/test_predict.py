"""`snakemake predict` on a folder of new images, a bad file among them."""

from __future__ import annotations

import csv
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

from conftest import run_snakemake, scheduled_jobs, write_config
from wbc import CLASSES

QUICK_MODELS = {"enabled": ["rf", "cnn"], "rf": {"n_estimators": 20}, "cnn": {"epochs": 1}}


def read_tsv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def new_images(folder, archive):
    """Four real TEST_SIMPLE images, a corrupt JPEG, a text file, a nested PNG, a name with
    braces (a wildcard to Snakemake) and one that is not UTF-8."""
    folder.mkdir()
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if "TEST_SIMPLE/" in n and n.endswith(".jpeg"))
        for i, name in enumerate(names[:: len(names) // 4][:4]):
            (folder / f"cell_{i}.jpeg").write_bytes(zf.read(name))
    (folder / "broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    shutil.copy(folder / "cell_0.jpeg", folder / "sub" / "copy.png")  # JPEG bytes, .png name
    shutil.copy(folder / "cell_1.jpeg", folder / "cell{1}.jpeg")
    shutil.copy(folder / "cell_1.jpeg", os.path.join(os.fsencode(folder), b"caf\xe9.jpeg"))
    return folder


def original_slides(folder, archive, n=10):
    """``n`` of the original BCCD slides (640x480) in Kaggle's archive: cells at twice the
    scale of its 320x240 cell images."""
    folder.mkdir()
    with zipfile.ZipFile(archive) as zf:
        names = sorted(n for n in zf.namelist() if "/JPEGImages/" in n and n.endswith(".jpg"))
        for name in names[:n]:
            (folder / os.path.basename(name)).write_bytes(zf.read(name))
    return folder


def result_folder(workdir, folder):
    """Where predict writes the result of ``folder``: one per input folder."""
    (found,) = [
        p.parent
        for p in (workdir / "results" / "predict").glob("*/folder.txt")
        if p.read_text().strip() == str(folder.resolve())
    ]
    assert found.name.startswith(f"{folder.name}-")
    return found


@pytest.mark.slow
def test_predict_a_folder_with_a_bad_file(workflow_dir, mini_zip, tmp_path):
    folder = new_images(tmp_path / "new", mini_zip)
    cfg = write_config(
        workflow_dir,
        source=str(mini_zip),
        image_size=32,
        crop={"shards": 2},
        models=QUICK_MODELS,
        predict={"input": str(folder)},
    )
    run_snakemake(workflow_dir, "predict", "--configfile", str(cfg))
    out = result_folder(workflow_dir, folder) / "predictions.tsv"
    rows = {r["image"]: r for r in read_tsv(out)}
    assert sorted(rows) == [
        "broken.jpeg",
        "cell_0.jpeg",
        "cell_1.jpeg",
        "cell_2.jpeg",
        "cell_3.jpeg",
        "cell{1}.jpeg",
        "sub/copy.png",
    ]
    assert rows["broken.jpeg"]["crop_status"] == "unreadable"
    assert rows["broken.jpeg"]["predicted"] == "" and rows["broken.jpeg"]["reason"]
    # 'best' is the enabled model, or their ensemble, with the highest val accuracy
    val = {
        m: json.loads((workflow_dir / f"results/models/{m}/metrics.json").read_text())["val"][
            "accuracy"
        ]
        for m in ("rf", "cnn", "ensemble")
    }
    best = max(val, key=val.get)
    for name in ("cell_0.jpeg", "cell_1.jpeg", "cell_2.jpeg", "cell_3.jpeg", "sub/copy.png"):
        row = rows[name]
        assert row["crop_status"] == "cropped" and row["model"] == best
        p = np.array([float(row[f"p_{c}"]) for c in CLASSES])
        assert p.sum() == pytest.approx(1, abs=1e-4) and row["predicted"] == CLASSES[p.argmax()]
    assert all("image_size" not in rows[f"cell_{i}.jpeg"]["outside_training"] for i in range(4))
    assert rows["sub/copy.png"]["p_EOSINOPHIL"] == rows["cell_0.jpeg"]["p_EOSINOPHIL"]
    assert rows["cell{1}.jpeg"]["p_EOSINOPHIL"] == rows["cell_1.jpeg"]["p_EOSINOPHIL"]
    log = (workflow_dir / "results" / "logs" / "predict.log").read_text()
    assert "notes.txt" in log and "caf\\xe9.jpeg: its name is not UTF-8" in log

    def predict(folder, **settings):
        cfg = write_config(
            workflow_dir,
            source=str(mini_zip),
            image_size=32,
            crop={"shards": 2},
            models=QUICK_MODELS,
            predict={"input": str(folder), **settings},
        )
        return run_snakemake(workflow_dir, "predict", "--configfile", str(cfg), check=False)

    # another model: predict reruns alone, with the Keras model; then the ensemble, whose
    # probabilities are the weighted mean of its members', as in rule ensemble
    probabilities = {}
    for model in ("rf", "ensemble", "cnn"):
        proc = predict(folder, model=model)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert not {"train_cnn", "train_rf"} & set(scheduled_jobs(proc))
        rows = read_tsv(out)
        assert {r["model"] for r in rows} == {model}
        probabilities[model] = np.array(
            [[float(r[f"p_{c}"] or "nan") for c in CLASSES] for r in rows]
        )
    # the ensemble's weights, fitted on val (its metrics.json), as in rule ensemble
    weights = json.loads(
        (workflow_dir / "results" / "models" / "ensemble" / "metrics.json").read_text()
    )["weights"]
    mean = (weights["cnn"] * probabilities["cnn"] + weights["rf"] * probabilities["rf"]) / (
        weights["cnn"] + weights["rf"]
    )
    np.testing.assert_allclose(probabilities["ensemble"], mean, atol=1e-4)
    first = out.read_bytes()

    # another folder: a result of its own, the first one kept
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(folder / "cell_2.jpeg", other / "only.jpeg")
    assert predict(other).returncode == 0
    assert [r["image"] for r in read_tsv(result_folder(workflow_dir, other) / "predictions.tsv")]
    assert out.read_bytes() == first

    # the original 640x480 slides, at twice the training images' scale: every row flagged,
    # and predict.rescale: auto brings their crops to the training scale
    slides = original_slides(tmp_path / "slides", mini_zip)
    proc = predict(slides, model="rf")
    assert proc.returncode == 0, proc.stderr[-3000:]
    as_given = read_tsv(result_folder(workflow_dir, slides) / "predictions.tsv")
    assert len(as_given) == 10
    assert all(
        {"image_size", "crop_size"} <= set(r["outside_training"].split(",")) for r in as_given
    )
    assert "10 of 10 images lie outside the training data's range" in proc.stderr
    assert "predict.rescale: auto" in proc.stderr
    proc = predict(slides, model="rf", rescale="auto")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rescaled = read_tsv(result_folder(workflow_dir, slides) / "predictions.tsv")
    training = json.loads((workflow_dir / "results/predict/training_range.json").read_text())
    low, high = training["crop_width"]
    for before, after in zip(as_given, rescaled, strict=True):
        assert float(after["scale"]) == 0.5 and "image_size" not in after["outside_training"]
        assert int(after["crop_width"]) < int(before["crop_width"])
    inside = [r for r in rescaled if low <= int(r["crop_width"]) <= high]
    assert len(inside) >= 9, [(r["crop_width"], r["crop_height"]) for r in rescaled]

    # a run that fails keeps the good result it would have replaced
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".txt":
            path.unlink()
    proc = predict(folder, model="cnn")
    assert proc.returncode != 0 and "holds no images" in proc.stderr
    assert out.read_bytes() == first


def test_predict_without_input_folder_says_which_key(workflow_dir, tmp_path):
    cfg = write_config(workflow_dir, source=str(tmp_path))  # an empty folder is a valid path
    proc = run_snakemake(workflow_dir, "-n", "predict", "--configfile", str(cfg), check=False)
    assert proc.returncode != 0
    assert "config key 'predict.input' is not set" in proc.stdout + proc.stderr
