"""Backbones from transformers folders and timm checkpoints: the SEEG paper's other models.

Subramaniam et al. 2024 compare CLIP-style models with language-only ones (SBERT, SimCSE: a
transformers ``AutoModel`` folder), vision-only ones (BEiT, ConvNeXt: timm), FLAVA and BLIP
(transformers ``FlavaModel`` / ``BlipModel``, both towers through get_text_features /
get_image_features), each also randomly initialised. Kind ``transformers`` opens a local snapshot of a
hub repository (``weights``: the folder with config.json, the weights and the tokenizer or image
processor); kind ``timm`` builds a timm architecture (``model``) and loads a local state-dict file.
Nothing is downloaded. ``random: true`` keeps the architecture (and the tokenizer / preprocessing)
of the named checkpoint and initialises it from ``seed`` instead of loading its weights, as the
reference does with ``AutoModel.from_config`` and ``timm.create_model(pretrained=False)``;
``random_init: lavis`` re-initialises it as the reference re-initialises its LAVIS models (BLIP,
ALBEF: :func:`reinitialise_like_lavis`).

The embedding is the output (``pooling``); the SEEG analysis reads other layers through forward
hooks on the model's modules (``neurogaze.brain.seeg.features``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError

# transformers poolings: "mean" over unmasked tokens (SBERT), "cls" (the first token), "pooler"
# (the model's pooler_output: SimCSE's MLP over CLS, BEiT's mean of patches, ConvNeXt's pooled
# map), "features" (a two-tower model's get_text_features / get_image_features: FLAVA, BLIP, CLIP)
POOLINGS = ("mean", "cls", "pooler", "features")
KINDS = ("transformers", "timm")
# a random version's initialisation: the library's own ("native": transformers' _init_weights,
# timm's) or the SEEG reference's re-initialisation of its LAVIS models (ALBEF, BLIP)
RANDOM_INITS = ("native", "lavis")
LAVIS_STD = 6.0  # the reference's init_weights: N(0, 6.0) for every Linear and Embedding weight
EMBEDDING_STD = 0.02  # ViT's (ALBEF's, LAVIS') draw of class and position embeddings


@dataclass(frozen=True)
class PretrainedSpec:
    """A transformers folder or a timm checkpoint; ``model`` names the hub id or timm architecture."""

    name: str
    model: str
    kind: str = "transformers"
    weights: str | None = None
    pooling: str = "cls"
    max_length: int = 77
    random: bool = False
    seed: int = 0
    random_init: str = "native"

    @classmethod
    def from_dict(cls, name: str, spec: dict) -> PretrainedSpec:
        known = {"kind", "model", "weights", "pooling", "max_length", "random", "seed", "random_init"}
        # the config schema gives every backbone every kind's keys, null where unset
        spec = {key: value for key, value in spec.items() if value is not None}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigError(None, f"backbones.{name}.{unknown[0]}", f"unknown key for kind "
                              f"{spec.get('kind')!r} (allowed: {sorted(known)})")
        if "model" not in spec:
            raise ConfigError(None, f"backbones.{name}.model", "required key is missing")
        if spec.get("pooling", "cls") not in POOLINGS:
            raise ConfigError(None, f"backbones.{name}.pooling", f"one of {list(POOLINGS)}, got {spec['pooling']!r}")
        if spec.get("random_init", "native") not in RANDOM_INITS:
            raise ConfigError(None, f"backbones.{name}.random_init",
                              f"one of {list(RANDOM_INITS)}, got {spec['random_init']!r}")
        return cls(name=name, **spec)


@dataclass
class PretrainedBackbone:
    """A loaded transformers or timm model with the ``encode_images`` / ``encode_texts`` of
    ``OpenClipBackbone``; a tower the model lacks is a named error."""

    spec: PretrainedSpec
    model: torch.nn.Module
    tokenizer: object | None
    image_processor: object | None
    device: torch.device
    weights_file: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if self.tokenizer is None:
            raise ConfigError(None, f"backbones.{self.name}", "a model with a text tower (this one sees images only)")
        tokens = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.spec.max_length,
                                return_tensors="pt").to(self.device)
        if self.spec.pooling == "features":
            return _first_token(self.model.get_text_features(**tokens))
        outputs = self.model(**tokens)
        return _pooled(outputs, self.spec.pooling, tokens["attention_mask"])

    @torch.no_grad()
    def encode_images(self, images: list[np.ndarray]) -> np.ndarray:
        if self.image_processor is None:
            raise ConfigError(None, f"backbones.{self.name}", "a model with an image tower (this one reads text only)")
        pictures = [Image.fromarray(np.asarray(image, dtype=np.uint8)) for image in images]
        if self.spec.kind == "timm":
            pixels = torch.stack([self.image_processor(picture) for picture in pictures]).to(self.device)
            return self.model(pixels).float().cpu().numpy()
        pixels = self.image_processor(images=pictures, return_tensors="pt")["pixel_values"].to(self.device)
        if self.spec.pooling == "features":
            return _first_token(self.model.get_image_features(pixel_values=pixels))
        return _pooled(self.model(pixel_values=pixels), self.spec.pooling, None)


def _first_token(features) -> np.ndarray:
    # FLAVA's get_*_features return every token's embedding; its first is the pooled one
    features = features if isinstance(features, torch.Tensor) else features.pooler_output
    features = features[:, 0] if features.ndim == 3 else features
    return features.float().cpu().numpy()


def _pooled(outputs, pooling: str, mask: torch.Tensor | None) -> np.ndarray:
    if pooling == "pooler":
        pooled = outputs.pooler_output
    else:
        hidden = outputs.last_hidden_state
        if hidden.ndim == 4:  # convolutional feature maps (N, C, H, W)
            hidden = hidden.flatten(2).transpose(1, 2)
        if pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = torch.ones(hidden.shape[:2], device=hidden.device) if mask is None else mask.float()
            pooled = (hidden * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp(min=1e-9)
    return pooled.reshape(len(pooled), -1).float().cpu().numpy()


def seeded(build, seed: int):
    """``build()`` with torch seeded to ``seed``; fork_rng: a model's initialisation must not
    disturb the caller's global random stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


@torch.no_grad()
def reinitialise_like_lavis(model: torch.nn.Module) -> torch.nn.Module:
    """The SEEG reference's random LAVIS model (ALBEF, BLIP): every Linear and Embedding weight
    drawn from N(0, 6), Linear biases 0, LayerNorms 1 and 0. The reference applies this to the
    loaded trained model, so the parameters it leaves alone (the patch-embedding convolution, the
    class and position embeddings) keep their trained values there; a random version never reads
    the checkpoint, so they are drawn here: the convolution by torch's default, the embeddings from
    ViT's truncated N(0, 0.02). (transformers draws BLIP's vision tower at std 1e-10, which leaves
    its image features constant across images.)"""
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            torch.nn.init.normal_(module.weight, mean=0.0, std=LAVIS_STD)
            if getattr(module, "bias", None) is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.LayerNorm):
            torch.nn.init.ones_(module.weight)
            torch.nn.init.zeros_(module.bias)
        elif isinstance(module, torch.nn.modules.conv._ConvNd):
            module.reset_parameters()
        else:
            for parameter in module.parameters(recurse=False):
                torch.nn.init.trunc_normal_(parameter, std=EMBEDDING_STD, a=-2 * EMBEDDING_STD, b=2 * EMBEDDING_STD)
    return model


def _random_model(build, spec: PretrainedSpec):
    """``build()``'s random version, seeded, re-initialised as ``spec.random_init`` says."""
    if spec.random_init == "lavis":
        return seeded(lambda: reinitialise_like_lavis(build()), spec.seed)
    return seeded(build, spec.seed)


def build_transformers(spec: PretrainedSpec, device: torch.device | str = "cpu") -> PretrainedBackbone:
    """A local snapshot of hub repository ``spec.model`` (``spec.weights``), or its random version."""
    import transformers

    folder = _existing(spec, "folder")
    if not (folder / "config.json").is_file():
        raise DataValidationError(folder / "config.json", "config.json", f"a transformers snapshot of {spec.model}",
                                  "missing")
    config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    if spec.random:
        model = _random_model(lambda: transformers.AutoModel.from_config(config), spec)
    else:
        model, info = transformers.AutoModel.from_pretrained(folder, local_files_only=True, output_loading_info=True)
        check_loaded(folder, spec.model, info["missing_keys"])
    tokenizer = image_processor = None
    if any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")):
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if (folder / "preprocessor_config.json").is_file():
        image_processor = transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    device = torch.device(device)
    return PretrainedBackbone(spec, model.to(device).eval(), tokenizer, image_processor, device, folder)


def check_loaded(folder: Path, model: str, missing: list[str]) -> None:
    """A named error when the folder's weights leave part of the model at its random
    initialisation (a pooler the checkpoint never trained is allowed: SBERT's is unused)."""
    missing = sorted(key for key in missing if not key.startswith("pooler."))
    if missing:
        raise DataValidationError(folder, "weights", f"every tensor of transformers' model for {model} "
                                  "(a snapshot saved from that model class)", f"missing {missing[:3]}")


def build_timm(spec: PretrainedSpec, device: torch.device | str = "cpu") -> PretrainedBackbone:
    """timm architecture ``spec.model`` without its classifier, its weights from ``spec.weights``
    (a state dict: .safetensors, .bin or .pth), or its random version; timm's evaluation transform."""
    import timm

    try:
        model = _random_model(lambda: timm.create_model(spec.model, pretrained=False, num_classes=0), spec)
    except RuntimeError as exc:  # timm: "Unknown model (...)"
        raise ConfigError(None, f"backbones.{spec.name}.model", f"a timm architecture ({exc})") from exc
    path = Path(spec.weights) if spec.weights else Path()
    if not spec.random:
        path = _existing(spec, "file")
        state = read_state(path)
        state = {key: value for key, value in state.items() if not key.startswith(("head.fc.", "fc.", "head.weight",
                                                                                     "head.bias"))}
        check_state_dict(path, state, model.state_dict(), f"the tensors of timm's {spec.model}")
        model.load_state_dict(state)
    data_config = timm.data.resolve_data_config({}, model=model)
    transform = timm.data.create_transform(**data_config, is_training=False)
    device = torch.device(device)
    return PretrainedBackbone(spec, model.to(device).eval(), None, transform, device, path)


def check_state_dict(path: Path, state: dict, expected: dict, what: str, required: list[str] | None = None) -> None:
    """A named error unless ``state`` holds every ``required`` tensor of ``expected`` (default: all),
    nothing else, and each in its shape."""
    required = list(expected) if required is None else required
    missing = [key for key in required if key not in state]
    unexpected = [key for key in state if key not in expected]
    shapes = [key for key, value in state.items() if key in expected and expected[key].shape != value.shape]
    if missing or unexpected or shapes:
        problem = (f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}" if unexpected
                   else f"shapes differ for {shapes[:3]}")
        raise DataValidationError(path, "state_dict", what, problem)


def _existing(spec: PretrainedSpec, what: str) -> Path:
    if not spec.weights:
        raise ConfigError(None, f"backbones.{spec.name}.weights",
                          f"the local {what} of {spec.model} (kind {spec.kind})")
    path = Path(spec.weights)
    if not path.exists():
        raise MissingWeightsError(f"backbone {spec.name!r}: {path} does not exist; put the {what} of {spec.model} "
                                  f"there (nothing is downloaded)")
    return path


def read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise DataValidationError(path, "state_dict", "a mapping of tensor names to tensors", type(state).__name__)
    return state


__all__ = ["KINDS", "POOLINGS", "RANDOM_INITS", "PretrainedBackbone", "PretrainedSpec", "build_timm",
           "build_transformers", "check_state_dict", "read_state", "reinitialise_like_lavis", "seeded"]
