"""The models of the ``seeg`` section: what each reads and how they pair (torch-free: the
workflow reads it while parsing)."""

from __future__ import annotations

from dataclasses import dataclass

from neurogaze.config import from_section

INPUTS = ("image", "text")
FAMILIES = ("multimodal", "vision", "language")
LINEAR_COMBINATION = "linear combination"
RANDOM_SUFFIX = " (random)"


@dataclass(frozen=True)
class SeegModel:
    """One entry of ``seeg.models``: its backbone, what it reads, its family and its random version."""

    backbone: str
    inputs: tuple[str, ...]
    family: str  # multimodal | vision | language
    random: str | None = None  # the untrained backbone of the same architecture


def read_models(settings: dict) -> dict[str, SeegModel]:
    return {name: from_section(SeegModel, entry, f"seeg.models.{name}") for name, entry in settings["models"].items()}


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
