"""Each model's features of a frame-sentence pair.

A backbone embeds every paired frame (image tower) and sentence (text tower) once
(:func:`embed_pairs`). A model of the ``seeg.models`` section then reads what its inputs say:

* ``[image]`` (a vision model such as SimCLR): the frame's embedding;
* ``[text]`` (a language model): the sentence's embedding;
* ``[image, text]`` (an image-text model such as CLIP or SLIP): both embeddings and their
  elementwise product (both L2-normalised). The product's sum is the model's own image-text
  similarity, so a linear readout can weigh how well the sentence describes the frame - a
  quantity only a model that aligned the two spaces computes.

Its random version reads the same inputs from the untrained backbone; the linear-integration
baseline concatenates the vision model's frame embedding and the language model's sentence
embedding (no product: the two spaces were never aligned, so their product means nothing).

**Layers.** Besides the output embedding (layer ``output``), a model names other layers: a label
and, per tower it reads, a module of the backbone (``named_modules`` path). Forward hooks record
each module's output while the tower embeds the frames or sentences (the first tensor of a tuple,
the batch axis first, flattened as the reference flattens its feature maps). A layer's design is
its towers' activations side by side. As in the paper, non-output layers go through a sparse
random projection (seed 0) to the Johnson-Lindenstrauss dimension at ``eps``: once in the feature
rule, per tower, on the unique frames and sentences (the projection acts row by row, so this
equals projecting the paired events' rows, and keeps the files small), at the dimension of the
largest subject-alignment event set; a two-tower layer's concatenation is projected again in the
encode rule when it is wider than its event set's dimension.
"""

from __future__ import annotations

import difflib
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from sklearn.random_projection import SparseRandomProjection, johnson_lindenstrauss_min_dim

from neurogaze.brain.seeg.models import OUTPUT_LAYER
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.features.image import as_backbone

SRP_SEED = 0  # the reference's get_feature_map_srps(seed=0)
META = "meta"  # the feature file's JSON description
TOWER_ITEMS = {"image": ("frames", "frame"), "text": ("sentences", "sentence")}
INPUT_ORDER = ("image", "text")


def read_image(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def layer_key(label: str, tower: str) -> str:
    return f"{label}::{tower}"


def jl_dimension(n_events: int, eps: float) -> int:
    return int(johnson_lindenstrauss_min_dim(n_events, eps=eps))


class LayerTap:
    """Forward hooks on a backbone's modules: after each batch, :meth:`take` returns each hooked
    module's output as (batch, features) rows, projected to ``target_dim`` when wider."""

    def __init__(self, model: torch.nn.Module, modules: dict[str, str], target_dim: int | None, name: str):
        available = dict(model.named_modules())
        self.name, self.target_dim, self.outputs, self.projections = name, target_dim, {}, {}
        self.handles = []
        for key, module in modules.items():
            if module not in available:
                close = difflib.get_close_matches(module, list(available), n=4)
                raise ConfigError(None, f"seeg.models.*.layers ({key})",
                                  f"a module of backbone {name!r}; no module {module!r} (close: {close})")
            self.handles.append(available[module].register_forward_hook(self._hook(key)))
        self.modules = modules

    def _hook(self, key: str):
        def record(_module, _inputs, output):
            self.outputs[key] = _first_tensor(output).detach()
        return record

    def take(self, keys: list[str], n_items: int) -> dict[str, np.ndarray]:
        rows = {}
        for key in keys:
            if key not in self.outputs:
                raise ConfigError(None, f"seeg.models.*.layers ({key})", f"a module that runs in the "
                                  f"{key.split('::')[1]} tower of {self.name!r}; {self.modules[key]!r} did not")
            rows[key] = self._project(key, _batch_rows(self.outputs.pop(key), n_items, self.modules[key], self.name))
        return rows

    def _project(self, key: str, rows: np.ndarray) -> np.ndarray:
        if self.target_dim is None or rows.shape[1] <= self.target_dim:
            return rows
        if key not in self.projections:  # the matrix depends only on the width and the seed
            self.projections[key] = SparseRandomProjection(self.target_dim, random_state=SRP_SEED).fit(rows)
        return self.projections[key].transform(rows).astype(np.float32)

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def _first_tensor(output) -> torch.Tensor:
    # transformers' layers return (hidden_states, attentions...) or a ModelOutput
    while not isinstance(output, torch.Tensor):
        output = output.to_tuple()[0] if hasattr(output, "to_tuple") else output[0]
    return output


def _batch_rows(tensor: torch.Tensor, n_items: int, module: str, name: str) -> np.ndarray:
    """(n_items, features): the batch axis first (the reference's reset_input_axis), flattened."""
    if tensor.shape[0] != n_items:
        axes = [axis for axis, size in enumerate(tensor.shape) if size == n_items]
        if len(axes) != 1:
            raise ConfigError(None, "seeg.models.*.layers", f"a module of {name!r} whose output has one batch axis "
                              f"of size {n_items}; {module!r} gives shape {tuple(tensor.shape)}")
        tensor = tensor.movedim(axes[0], 0)
    return tensor.reshape(n_items, -1).float().cpu().numpy()


@contextmanager
def tapped(model: torch.nn.Module, modules: dict[str, str], target_dim: int | None, name: str):
    tap = LayerTap(model, modules, target_dim, name)
    try:
        yield tap
    finally:
        tap.close()


def embed_pairs(pairs: pd.DataFrame, stimuli_root, spec: dict, inputs: tuple[str, ...], device="cpu",
                batch_size: int = 64, layers: dict[str, dict[str, str]] | None = None,
                target_dim: int | None = None) -> dict[str, np.ndarray]:
    """``frames``/``image`` and ``sentences``/``text`` (only the towers in ``inputs``), rows in
    sorted order of the unique frames and sentences, and ``<label>::<tower>`` for every layer of
    ``layers`` (label -> tower -> module), projected to ``target_dim`` where wider."""
    model = as_backbone(spec, device)
    modules = {layer_key(label, tower): module for label, towers in (layers or {}).items()
               for tower, module in towers.items() if tower in inputs}
    out = {}
    with tapped(model.model, modules, target_dim, model.name) as tap:
        for tower in (tower for tower in ("image", "text") if tower in inputs):
            names, column = TOWER_ITEMS[tower]
            items = sorted(pairs[column].unique())
            keys = [key for key in modules if key.endswith(f"::{tower}")]
            batches = {key: [] for key in [tower, *keys]}
            for start in range(0, len(items), batch_size):
                chunk = items[start : start + batch_size]
                if tower == "image":
                    batches[tower].append(model.encode_images([read_image(Path(stimuli_root) / f) for f in chunk]))
                else:
                    batches[tower].append(model.encode_texts(chunk))
                for key, rows in tap.take(keys, len(chunk)).items():
                    batches[key].append(rows)
            out[names] = np.asarray(items)
            out.update({key: np.concatenate(parts).astype(np.float32) for key, parts in batches.items()})
    return out


def read_embeddings(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def describe(embeddings: dict) -> dict:
    """The feature file's own description (backbone, inputs, layers, projection)."""
    return json.loads(str(embeddings[META])) if META in embeddings else {}


def layers_of(embeddings: dict) -> list[str]:
    """The layer labels a feature file holds, ``output`` first."""
    labels = sorted({key.split("::")[0] for key in embeddings if "::" in key})
    return [OUTPUT_LAYER, *labels]


def _rows(embeddings: dict, key: str, items: pd.Series, path) -> np.ndarray:
    names = TOWER_ITEMS[key.split("::")[-1]][0]
    if key not in embeddings:
        raise DataValidationError(path, key, f"{key} embeddings of the backbone", "missing")
    lookup = pd.Series(np.arange(len(embeddings[names])), index=embeddings[names])
    missing = ~items.isin(lookup.index)
    if missing.any():
        raise DataValidationError(path, names, f"an embedding of every paired {names[:-1]}",
                                  f"none for {items[missing].iloc[0]!r}")
    return embeddings[key][lookup.loc[items].to_numpy()].astype(np.float64)


def _normalised(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def model_design(pairs: pd.DataFrame, inputs: tuple[str, ...], embeddings: dict, path,
                 layer: str = OUTPUT_LAYER) -> np.ndarray:
    """(n_pairs, n_features) of one model at one layer (see the module docstring)."""
    if layer != OUTPUT_LAYER:
        towers = [tower for tower in INPUT_ORDER if tower in inputs and layer_key(layer, tower) in embeddings]
        if not towers:
            raise DataValidationError(path, layer_key(layer, "*"), f"layer {layer!r} of a tower in {list(inputs)}",
                                      "missing")
        return np.concatenate([_rows(embeddings, layer_key(layer, tower), pairs[TOWER_ITEMS[tower][1]], path)
                               for tower in towers], axis=1)
    parts = [_rows(embeddings, tower, pairs[TOWER_ITEMS[tower][1]], path) for tower in INPUT_ORDER if tower in inputs]
    if len(parts) == 2:
        image, text = _normalised(parts[0]), _normalised(parts[1])
        parts = [image, text, image * text]
    return np.concatenate(parts, axis=1)


def linear_combination_design(pairs, vision: dict, language: dict, paths,
                              layers: tuple[str, str] = (OUTPUT_LAYER, OUTPUT_LAYER)) -> np.ndarray:
    """The vision model's frame features beside the language model's sentence features, each at
    its model's layer."""
    return np.concatenate([model_design(pairs, ("image",), vision, paths[0], layers[0]),
                           model_design(pairs, ("text",), language, paths[1], layers[1])], axis=1)


def check_not_constant(design: np.ndarray, path, model: str) -> None:
    if not np.any(np.ptp(design, axis=0) > 0):
        raise DataValidationError(path, "features", f"features of model {model!r} that vary across events",
                                  "constant")


def reduce_dimension(design: np.ndarray, eps: float, seed: int = SRP_SEED) -> np.ndarray:
    """A sparse random projection to the Johnson-Lindenstrauss dimension of the events at ``eps``
    when the features are wider than it (the paper's treatment of non-output layers)."""
    target = jl_dimension(len(design), eps)
    if design.shape[1] <= target:
        return design
    return SparseRandomProjection(n_components=target, random_state=seed).fit_transform(design)
