"""The Random Forest's facts and settings (parse time: standard library only); its code:
``wbc/models/rf.py``.

Recipe ``reference``: the flattened RGB pixels at 128 px, as the reference study. Recipe
``improved``: features that survive the rotations and shifts between copies of a cell
better than raw pixels do (docs/benchmarks.md, "Recipes").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from . import ModelFacts, setting

Feature = Literal["pixels", "colour_histogram", "hog", "morphology"]
FEATURES = get_args(Feature)


@dataclass(frozen=True)
class Settings:
    image_size: int = setting(
        64, "Side in pixels of the resized crops features come from.", minimum=16, maximum=1024
    )
    n_estimators: int = setting(300, "Trees of the forest.", minimum=1)
    features: list[Feature] = setting(
        ["pixels", "colour_histogram", "hog"],
        "pixels (RGB, at pixel_size), colour_histogram (of the stained cell), hog "
        "(gradient histograms of the grey image), morphology (what a haematologist looks "
        "at, measured at 96 px: nucleus shape and lobe count, nucleus/cell area ratio, "
        "cytoplasm colour and granularity; `wbc.models.rf.MORPHOLOGY` names the 16 columns).",
        minItems=1,
        uniqueItems=True,
    )
    pixel_size: int = setting(16, "Side the crop is shrunk to for the pixels feature.", minimum=4)
    min_samples_leaf: int = setting(1, "Fewest images in a leaf of a tree.", minimum=1)


FACTS = ModelFacts(
    name="rf",
    title="Random Forest",
    env="sklearn",
    model_file="model.joblib",
    reference_accuracy=0.79,
    settings=Settings,
    reference={"image_size": 128, "n_estimators": 100, "features": ["pixels"], "pixel_size": 128},
)
