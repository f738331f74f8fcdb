"""What the workflow needs to know about a model before running it (parse time: standard
library only): each model's facts are a module of this package, ``facts/<model>.py``,
apart from its code (``wbc/models/<model>.py``, its frameworks imported at the top), so
the Snakefile reads them without importing TensorFlow or scikit-learn.

A model's settings are ONE typed declaration, a dataclass whose fields are its settings::

    @dataclass(frozen=True)
    class Settings:
        epochs: int = setting(15, "Training epochs.", minimum=1)
        head: Literal["flatten", "gap"] = setting("gap", "flatten: ...; gap: ...")

Each field's type gives its JSON type (``int`` integer, ``float`` number, ``str`` string,
``bool`` boolean, ``X | None`` nullable, ``Literal[...]`` an enum, ``list[X]`` an array),
its default is the ``improved`` recipe's value, and ``setting``'s keywords are JSON-schema
bounds (``minimum``, ``exclusiveMinimum``, ``maxItems``...). Every model also has the
setting ``crop``, its images' crop method: the study's unless it declares its own
(``crop: CropMethod = crop_setting("nucleus_window")``). The ``reference`` recipe
states only where it differs (``ModelFacts.reference``). The workflow's schema
(``wbc.settings.config_schema``), ``config/README.md``'s rows and ``config/config.yaml``'s
commented model blocks (``make docs``: ``wbc.docs``) are generated from it.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field

RECIPES = ("reference", "improved")
CropMethod = typing.Literal["reference", "nucleus_window"]
CROP_METHODS = typing.get_args(CropMethod)  # wbc.crop.METHODS (that module needs cv2)
# what the generic code of a frozen backbone (wbc.models.backbones) reads of its settings
FROZEN_HEAD_SETTINGS = (
    "weights",
    "image_size",
    "head",
    "epochs",
    "batch_size",
    "learning_rate",
    "label_smoothing",
    "patience",
    "precision",
)


def setting(default, description: str, **schema):
    """A model setting: its default (the improved recipe's value), what it means (one
    sentence or two, shown in config/README.md and config/config.yaml) and its JSON-schema
    keywords beyond its type (``minimum=1``, ``uniqueItems=True``...)."""
    metadata = {"description": description, "schema": schema}
    if isinstance(default, (list, dict)):  # a fresh copy per instance, as dataclasses need
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


def crop_setting(default: str = "reference"):
    """Every model's setting ``crop``: the crop method of its images (the recipe's unless
    config key crop.method names one for every model). A model that does not declare it
    has it all the same, with the study's crop (``declared``, ``defaults``)."""
    return setting(
        default,
        "Crop method of its images: reference (the study's colour threshold, the rest "
        "blacked out) or nucleus_window (crop.window px around the nucleus, nothing "
        "blacked out); config key crop.method, when set, crops every model's that way.",
    )


def json_schema(hint) -> dict:
    """The JSON schema of a type hint of a setting (see the module's docstring)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) != 1 or len(kinds) == len(args):
            raise TypeError(f"{hint}: a setting's type is one type, or one type | None")
        inner = json_schema(kinds[0])
        if "type" not in inner:
            raise TypeError(f"{hint}: only a plain type can be nullable")
        return {**inner, "type": [inner["type"], "null"]}
    if origin is list:
        return {"type": "array", "items": json_schema(args[0])}
    for kind, name in JSON_TYPES:
        if hint is kind:
            return {"type": name}
    raise TypeError(f"{hint}: not a type a setting can have")


@dataclass(frozen=True)
class _Crop:  # the setting every model has (a declaration of its own may change its default)
    crop: CropMethod = crop_setting()


def declared(settings: type) -> list[dataclasses.Field]:
    """The settings of a model's declaration, in order, then ``crop`` if it lacks one."""
    fields = list(dataclasses.fields(settings))
    has_crop = any(f.name == "crop" for f in fields)
    return fields if has_crop else fields + list(dataclasses.fields(_Crop))


def schema_properties(settings: type) -> dict:
    """JSON schema properties of a model's config block, one per setting."""
    hints = {**typing.get_type_hints(_Crop), **typing.get_type_hints(settings)}
    properties = {}
    for f in declared(settings):
        spec = {**json_schema(hints[f.name]), **f.metadata.get("schema", {})}
        spec["description"] = f.metadata.get("description", "")
        properties[f.name] = spec
    return properties


def defaults(settings: type) -> dict:
    """Each setting's default (the improved recipe), as config values."""
    values = dataclasses.asdict(settings())
    values.setdefault("crop", _Crop().crop)  # undeclared: the study's crop, last
    return values


@dataclass(frozen=True)
class Backbone:
    """A pre-trained, frozen feature extractor from ``keras.applications``: the model
    declaring one trains its head on the backbone's features, computed once per backbone
    settings (rule frozen_features) from weights fetched once (rule backbone_weights).

    The model's settings must hold ``weights`` (``imagenet``, a file, or null for random
    weights) and ``image_size``.
    """

    application: str  # keras.applications constructor, e.g. "VGG16", "EfficientNetB0"
    # the module of its preprocess_input (keras.applications.<module>), e.g. "vgg16"
    preprocess: str
    weights_url: str  # the ImageNet weights without the top, fetched by `imagenet`
    weights_md5: str | None = None  # Keras' checksum of that file (None: not checked)
    batch: int = 16  # images per batch of feature extraction (memory of the activations)

    @property
    def weights_file(self) -> str:
        """The name of the downloaded weights file in resources/."""
        return self.weights_url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ModelFacts:
    name: str  # id in the config (models.<name>) and in paths (results/models/<name>/)
    title: str  # how the report names it
    env: str  # the conda env its training rule runs in: envs/<env>.yaml
    model_file: str  # the fitted model, in results/models/<name>/
    # its settings: a dataclass of ``setting`` fields (their defaults: recipe improved)
    settings: type
    # the reference study's settings, where they differ from the improved recipe's
    reference: dict = field(default_factory=dict)
    # its stages beyond training: a frozen pre-trained backbone whose features the
    # training rule reads (instead of the images, results/arrays/), computed once
    frozen_features: Backbone | None = None
    keras: bool = False  # a Keras model: writes history.tsv, runs on a GPU where there is one
    # the reference study's accuracy, measured on a random split of TRAIN (None: not in it)
    reference_accuracy: float | None = None
    # the module of its architecture, training and inference; None: wbc.models.<name>, or
    # for a frozen backbone the generic one (wbc.models.backbones: a dense head on its
    # features, whose settings are those of facts/vgg16.py's Settings)
    implementation: str | None = None

    def __post_init__(self):
        names = [f.name for f in declared(self.settings)]
        unknown = sorted(set(self.reference) - set(names))
        if unknown:
            raise ValueError(f"model {self.name}: reference recipe sets undeclared {unknown}")
        undescribed = [f.name for f in declared(self.settings) if not f.metadata["description"]]
        if undescribed:
            raise ValueError(f"model {self.name}: settings without a description {undescribed}")
        # the run plan names every backbone's features by its weights and precision
        needs = set(
            FROZEN_HEAD_SETTINGS if self.implementation is None else ("weights", "precision")
        )
        if self.frozen_features and not needs <= set(names):
            missing = sorted(needs - set(names))
            raise ValueError(f"model {self.name}: a frozen backbone needs settings {missing}")

    @property
    def module(self) -> str:
        """The module of its code (``wbc.models.get`` imports it)."""
        if self.implementation is not None:
            return self.implementation
        return "wbc.models.backbones" if self.frozen_features else f"wbc.models.{self.name}"

    @property
    def recipes(self) -> dict[str, dict]:
        """Its settings under each recipe (config key models.recipe)."""
        improved = defaults(self.settings)
        return {
            "reference": {**improved, **copy.deepcopy(self.reference)},
            "improved": improved,
        }

    @property
    def config(self) -> dict:
        """JSON schema properties of its config block models.<name>."""
        return schema_properties(self.settings)
