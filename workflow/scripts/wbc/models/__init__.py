"""The model registry: one module per model in this folder, listed in ``MODELS``.

Each module holds its model's facts (``FACTS``), architecture, training and inference::

    Settings                 # its settings: a dataclass of wbc.models.facts.setting fields
    FACTS: ModelFacts        # name, env, Settings, the reference recipe's differences, stages
    device(settings, threads) -> str        # set up the framework; the device it will use
    fit(train, val, settings, threads, resume_dir)
        # -> (fitted model, history table or None, best epoch or None); train and val are
        # wbc.models.training.Split (rows: a NpyRows of uint8 images, labels, groups)
    predict(model, x) -> probabilities      # a batch of its training inputs
    save(model, path, settings); load(path)
    predict_images(model, images)           # uint8 RGB images -> probabilities (predict rule)

Adding a model: write ``wbc/models/<name>.py`` (``rf.py`` is the shortest example), add its
name to ``MODELS``, and run ``make docs`` (its rows in ``config/README.md``, its block in
``config/config.yaml``). Rules, config checks, ensemble, predict and report follow from here.

Read at parse time: the modules import their frameworks inside functions, so this file and
their ``FACTS`` need only the standard library.
"""

from __future__ import annotations

from importlib import import_module

MODELS = ("rf", "vgg16", "cnn")


def get(name: str):
    """The module of model ``name``."""
    if name not in MODELS:
        raise KeyError(f"no model {name!r}; the registry has {', '.join(MODELS)}")
    return import_module(f"{__name__}.{name}")


def facts_of(name: str):
    return get(name).FACTS


def backbone_weights() -> dict[str, str]:
    """Every weights file a registry model's frozen backbone declares -> that model."""
    return {
        facts_of(name).frozen_features.weights_file: name
        for name in MODELS
        if facts_of(name).frozen_features is not None
    }
