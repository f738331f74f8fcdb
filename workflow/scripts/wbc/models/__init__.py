"""The model registry: each model's facts in ``facts/<name>.py``, listed in ``MODELS``,
and its code in ``<name>.py`` (or, for a frozen pre-trained backbone, the generic
``backbones.py``).

A model's facts module (standard library only: the Snakefile reads it) holds::

    Settings                 # its settings: a dataclass of wbc.models.facts.setting fields
    FACTS: ModelFacts        # name, env, Settings, the reference recipe's differences, stages

and its code module (its frameworks imported at the top; imported by the jobs, ``get``)::

    device(settings, threads) -> str        # set up the framework; the device it will use
    fit(train, val, settings, threads, resume_dir)
        # -> (fitted model, history table or None, best epoch or None); train and val are
        # wbc.models.training.Split (rows: a NpyRows of uint8 images, labels, groups)
    predict(model, x) -> probabilities      # a batch of its training inputs
    save(model, path, settings); load(path)
    predict_images(model, images)           # uint8 RGB images -> probabilities (predict rule)

Adding a model: write ``facts/<name>.py`` and ``<name>.py`` (``rf`` is the shortest
example; a frozen backbone from ``keras.applications`` needs only its facts, see
``facts/vgg16.py``), add its name to ``MODELS``, and run ``make docs`` (its rows in
``config/README.md``, its block in ``config/config.yaml``). Rules, config checks,
ensemble, predict and report follow from here.
"""

from __future__ import annotations

import os
from importlib import import_module

from ..runtime import native_output_to_log

MODELS = ("rf", "vgg16", "cnn")


def facts_of(name: str):
    """The facts of model ``name`` (standard library only)."""
    if name not in MODELS:
        raise KeyError(f"no model {name!r}; the registry has {', '.join(MODELS)}")
    return import_module(f"{__name__}.facts.{name}").FACTS


def code_modules(name: str) -> list[str]:
    """The modules a model's jobs run: its facts and its code (for ``code_version``)."""
    return [f"{__name__}.facts.{name}", facts_of(name).module]


def uses_val(name: str, settings: dict) -> bool:
    """Whether a model's training looks at val (early stopping, the best epoch, a
    learning-rate schedule on val): Keras models unless they keep the last epoch of a
    fixed count. Inside a fold such a model gets an inner grouped split of its cells; with
    one split its val figure carries that choice (the report says so)."""
    if not facts_of(name).keras:
        return False
    return settings.get("restore_best", True) or settings.get("patience") is not None


def get(name: str):
    """The code of model ``name`` (see above), its frameworks imported here: what their
    native code prints on import (TensorFlow's start-up lines) goes to the job's log."""
    facts = facts_of(name)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ info lines
    with native_output_to_log():
        module = import_module(facts.module)
    # the generic implementation of a frozen backbone serves the model it is given
    return module.implementation(facts) if hasattr(module, "implementation") else module


def backbone_weights() -> dict[str, str]:
    """Every weights file a registry model's frozen backbone declares -> that model."""
    return {
        facts_of(name).frozen_features.weights_file: name
        for name in MODELS
        if facts_of(name).frozen_features is not None
    }
