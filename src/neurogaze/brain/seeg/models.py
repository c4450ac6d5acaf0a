"""The models of the ``seeg`` section: what each reads, its layers and how they pair (torch-free:
the workflow reads it while parsing)."""

from __future__ import annotations

from dataclasses import dataclass, field

from neurogaze.config import from_section
from neurogaze.errors import ConfigError

INPUTS = ("image", "text")
FAMILIES = ("multimodal", "vision", "language")
LINEAR_COMBINATION = "linear combination"
RANDOM_SUFFIX = " (random)"
# the model's output embedding (see features.model_design); every model has it
OUTPUT_LAYER = "output"


@dataclass(frozen=True)
class SeegModel:
    """One entry of ``seeg.models``: its backbone, what it reads, its family, its random version
    and its other layers (label -> the module of each tower it reads at that depth; the random
    version has the same architecture and so the same module names)."""

    backbone: str
    inputs: tuple[str, ...]
    family: str  # multimodal | vision | language
    random: str | None = None  # the untrained backbone of the same architecture
    layers: dict = field(default_factory=dict)

    def layer_modules(self, label: str) -> dict[str, str]:
        """The modules of ``label`` in the towers this model reads."""
        return {tower: module for tower, module in self.layers[label].items() if tower in self.inputs}


def read_models(settings: dict) -> dict[str, SeegModel]:
    models = {name: from_section(SeegModel, entry, f"seeg.models.{name}") for name, entry in settings["models"].items()}
    for name, model in models.items():
        for label in model.layers:
            if label == OUTPUT_LAYER:
                raise ConfigError(None, f"seeg.models.{name}.layers.{label}",
                                  f"a label other than {OUTPUT_LAYER!r} (the output embedding is always read)")
            if not model.layer_modules(label):
                raise ConfigError(None, f"seeg.models.{name}.layers.{label}",
                                  f"a module of a tower the model reads ({list(model.inputs)})")
    return models


def backbone_inputs(settings: dict) -> dict[str, tuple[str, ...]]:
    """Each backbone the models read and the towers it needs."""
    needed: dict[str, set[str]] = {}
    for model in read_models(settings).values():
        for backbone in filter(None, (model.backbone, model.random)):
            needed.setdefault(backbone, set()).update(model.inputs)
    combination = settings["linear_combination"]
    if combination:
        needed.setdefault(settings["models"][combination["vision"]]["backbone"], set()).add("image")
        needed.setdefault(settings["models"][combination["language"]]["backbone"], set()).add("text")
    return {backbone: tuple(sorted(inputs)) for backbone, inputs in needed.items()}


def backbone_layers(settings: dict) -> dict[str, dict[str, dict[str, str]]]:
    """Each backbone's layers to extract: label -> tower -> module, over every model that reads it
    (as its backbone or its random version). One label naming two modules of one tower is an error."""
    layers: dict[str, dict[str, dict[str, str]]] = {backbone: {} for backbone in backbone_inputs(settings)}
    for name, model in read_models(settings).items():
        for backbone in filter(None, (model.backbone, model.random)):
            for label in model.layers:
                towers = layers[backbone].setdefault(label, {})
                for tower, module in model.layer_modules(label).items():
                    if towers.setdefault(tower, module) != module:
                        raise ConfigError(None, f"seeg.models.{name}.layers.{label}.{tower}",
                                          f"the module another model reading {backbone} gives layer {label!r} "
                                          f"({towers[tower]!r}), got {module!r}")
    return layers
