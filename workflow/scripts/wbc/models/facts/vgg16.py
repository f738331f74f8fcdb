"""Frozen VGG16 + a dense head: its facts, settings and backbone (parse time: standard
library only). Its code is the generic frozen backbone's (``wbc/models/backbones.py``):
rules backbone_weights and frozen_features fetch its weights and compute its features
once per split, and its training rule fits the head on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import Backbone, ModelFacts, setting


@dataclass(frozen=True)
class Settings:
    weights: str | None = setting(
        "imagenet",
        "Backbone weights: imagenet (fetched once into resources/), null (random init) or "
        "the path of a weights file of VGG16 without its top.",
    )
    precision: Literal["auto", "float32", "bfloat16"] = setting(
        "auto",
        "Arithmetic of the frozen backbone: float32; bfloat16 (about half the time on "
        "chips with bfloat16 units; features within ~1 % of float32's); auto: bfloat16 "
        "where the CPU (avx512_bf16, amx_bf16) or GPU (compute capability 8+) has such "
        "units, else float32. The features' log names the one used.",
    )
    image_size: int = setting(
        128, "Side in pixels of the images the backbone sees.", minimum=32, maximum=1024
    )
    head: Literal["flatten", "gap"] = setting(
        "gap",
        "flatten: the reference's head (Flatten, BN, dense 256-128-64 with dropout); "
        "gap: global average pooling, dense 256, dropout.",
    )
    epochs: int = setting(
        30, "Most epochs of head training (early stopping on val_loss).", minimum=1
    )
    batch_size: int = setting(32, "Batch size.", minimum=1)
    learning_rate: float = setting(
        0.001,
        "Adam learning rate of the head (cut x 0.3 after 2 epochs without val accuracy gain).",
        exclusiveMinimum=0,
    )
    label_smoothing: float = setting(
        0.1, "Label smoothing of the cross-entropy.", minimum=0, maximum=0.5
    )
    patience: int = setting(
        8,
        "Epochs without val_loss improvement before early stopping; the best epoch's "
        "weights are kept.",
        minimum=1,
    )


FACTS = ModelFacts(
    name="vgg16",
    title="VGG16 (frozen) + head",
    env="tensorflow",
    model_file="model.keras",
    keras=True,
    reference_accuracy=0.91,
    settings=Settings,
    reference={
        "precision": "float32",
        "head": "flatten",
        "epochs": 15,
        "label_smoothing": 0.0,
        "patience": 5,
    },
    # Keras' own copy of the ImageNet weights of VGG16 without its top (the classifier)
    frozen_features=Backbone(
        application="VGG16",
        preprocess="vgg16",
        weights_url="https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_md5="6d6bbae143d832006294945121d1f1fc",
    ),
)
