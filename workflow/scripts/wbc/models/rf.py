"""Random Forest on the flattened RGB pixels of the resized crops.

The reference study fitted one-hot targets (a multi-output forest); this one is fitted on
class labels, which gives one probability per class that sums to one.
"""

from __future__ import annotations

import logging

from .facts import ModelFacts

FACTS = ModelFacts(
    name="rf",
    title="Random Forest",
    env="sklearn",
    model_file="model.joblib",
    reference_accuracy=0.79,
    config={
        "n_estimators": {
            "type": "integer",
            "minimum": 1,
            "default": 100,
            "description": "Trees of the Random Forest on flattened RGB pixels.",
        },
    },
)
log = logging.getLogger(__name__)


def device(settings: dict, threads: int) -> str:
    return f"CPU ({threads} threads)"


def fit(train, val, settings: dict, threads: int):
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    x = train.rows.read(np.arange(len(train))).reshape(len(train), -1)
    model = RandomForestClassifier(
        n_estimators=settings["n_estimators"], random_state=settings["seed"], n_jobs=threads
    )
    model.fit(x, np.asarray(train.labels))
    log.info("fitted %d trees on %d images", settings["n_estimators"], len(train))
    return model, None


def predict(model, x):
    """Class probabilities, columns in sorted class order (``model.classes_``)."""
    return model.predict_proba(x.reshape(len(x), -1))


predict_images = predict


def save(model, path, settings) -> None:
    import joblib

    joblib.dump(model, path, compress=3)


def load(path):
    import joblib

    return joblib.load(path)
