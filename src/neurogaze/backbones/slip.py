"""Released SLIP, CLIP and SimCLR checkpoints of Mu et al. 2022 (github.com/facebookresearch/SLIP),
loaded into open_clip's own model.

The SEEG paper's controlled comparison (SLIP vs SimCLR vs CLIP: one ViT, one data set, three
training signals) uses these checkpoints. Their layout (the reference's ``models.py`` and
``main.py``): ``torch.save({"epoch", "state_dict", "optimizer", "scaler", "best_acc1", "args"})``
with the state dict of a DistributedDataParallel model (keys prefixed ``module.``):

- ``visual.*``: a timm VisionTransformer (``vit_base_patch16_224`` for the ViT-B/16 models)
  created with ``num_classes=0``, so it returns the final-norm CLS token;
- CLIP and SLIP: ``image_projection`` (vision width x 512; image embedding = CLS @ projection)
  and OpenAI CLIP's text transformer (width 512, 8 heads, 12 layers, 77 tokens, QuickGELU, the
  embedding of the end-of-text token @ ``text_projection``) and ``logit_scale``;
- SimCLR and SLIP: ``image_mlp.*``, the self-supervised head (not part of the embedding: SimCLR's
  image embedding is the CLS token itself); SimCLR has no text tower.

They map onto open_clip's CLIP with a timm vision tower (``visual.trunk.*`` = the timm model,
``visual.head.proj`` = the transposed ``image_projection``) and its standard text tower, whose
keys are the reference's. Preprocessing is the reference's evaluation transform: resize the
shorter side to 224 (bilinear), centre crop 224, ImageNet mean and std.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from neurogaze.backbones.hf import check_state_dict, seeded
from neurogaze.backbones.open_clip_factory import OpenClipBackbone, OpenClipSpec
from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_TEXT = {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}


@dataclass(frozen=True)
class SlipArchitecture:
    """One released model: its timm trunk, whether it has a text tower, and its sizes."""

    timm_model: str
    vision_width: int
    has_text: bool
    embed_dim: int = 512
    image_size: int = 224
    text_cfg: tuple = tuple(CLIP_TEXT.items())

    @property
    def output_dim(self) -> int:
        return self.embed_dim if self.has_text else self.vision_width


ARCHITECTURES: dict[str, SlipArchitecture] = {
    "CLIP_VITB16": SlipArchitecture("vit_base_patch16_224", 768, True),
    "SLIP_VITB16": SlipArchitecture("vit_base_patch16_224", 768, True),
    "SIMCLR_VITB16": SlipArchitecture("vit_base_patch16_224", 768, False),
    "CLIP_VITL16": SlipArchitecture("vit_large_patch16_224", 1024, True),
    "SLIP_VITL16": SlipArchitecture("vit_large_patch16_224", 1024, True),
    "SIMCLR_VITL16": SlipArchitecture("vit_large_patch16_224", 1024, False),
}


def open_clip_config(architecture: SlipArchitecture) -> dict:
    """The open_clip model config of a SLIP-family model (timm vision tower, CLIP text tower)."""
    return {
        "embed_dim": architecture.output_dim,
        "quick_gelu": True,
        "vision_cfg": {"timm_model_name": architecture.timm_model, "timm_model_pretrained": False,
                       "timm_pool": "token", "timm_proj": "linear" if architecture.has_text else "none",
                       "image_size": architecture.image_size},
        "text_cfg": dict(architecture.text_cfg),
    }


def read_checkpoint(path: Path, model: str) -> dict[str, torch.Tensor]:
    """The state dict of a released checkpoint (``module.`` prefixes removed), after checking that
    it is the file of ``model``."""
    if not path.is_file():
        raise MissingWeightsError(f"SLIP checkpoint {path} does not exist; download {model}'s file from "
                                  "github.com/facebookresearch/SLIP (nothing is downloaded automatically)")
    with torch.serialization.safe_globals([argparse.Namespace]):
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
            raise DataValidationError(path, "file", "a SLIP checkpoint saved by torch.save", exc) from exc
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise DataValidationError(path, "state_dict", "a dict with the model's 'state_dict' (SLIP's main.py layout)",
                                  sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__)
    saved_model = getattr(checkpoint.get("args"), "model", None)
    if saved_model is not None and saved_model != model:
        raise DataValidationError(path, "args.model", f"a checkpoint of {model}", saved_model)
    return {key.removeprefix("module."): value for key, value in checkpoint["state_dict"].items()}


def to_open_clip(state: dict[str, torch.Tensor], architecture: SlipArchitecture) -> dict[str, torch.Tensor]:
    """SLIP's keys -> open_clip's: the timm trunk under ``visual.trunk``, the image projection as
    the head's linear layer; the self-supervised head is dropped."""
    converted = {}
    for key, value in state.items():
        if key.startswith("image_mlp."):
            continue
        if key.startswith("visual."):
            converted["visual.trunk." + key.removeprefix("visual.")] = value
        elif key == "image_projection":
            converted["visual.head.proj.weight"] = value.t().contiguous()
        else:
            converted[key] = value
    return converted


def _architecture(model: str) -> SlipArchitecture:
    if model not in ARCHITECTURES:
        raise ConfigError(None, "backbones.<name>.model",
                          f"one of {sorted(ARCHITECTURES)} for kind slip, got {model!r}")
    return ARCHITECTURES[model]


def load_slip_model(path: str | Path, model: str) -> tuple[torch.nn.Module, SlipArchitecture]:
    """open_clip's CLIP holding the released ``model`` (a key of ``ARCHITECTURES``) from ``path``.
    Every tensor of the checkpoint must land, and every parameter of the model must come from it
    (SimCLR: every parameter of the image tower; its text tower does not exist)."""
    import open_clip

    path = Path(path)
    architecture = _architecture(model)
    state = to_open_clip(read_checkpoint(path, model), architecture)
    network = open_clip.model.CLIP(**open_clip_config(architecture))
    expected = network.state_dict()
    required = [key for key in expected if architecture.has_text or key.startswith("visual.")]
    check_state_dict(path, state, expected, f"the tensors of {model} (SLIP's models.py)", required)
    network.load_state_dict(state, strict=False)
    return network.eval(), architecture


def random_slip_model(model: str, seed: int) -> tuple[torch.nn.Module, SlipArchitecture]:
    """The architecture of ``model`` initialised from ``seed``: the paper's untrained control."""
    import open_clip

    architecture = _architecture(model)
    network = seeded(lambda: open_clip.model.CLIP(**open_clip_config(architecture)), seed)
    return network.eval(), architecture


def build_slip(spec: OpenClipSpec, device: torch.device | str = "cpu") -> OpenClipBackbone:
    """A released SLIP, CLIP or SimCLR checkpoint of Mu et al. 2022 (kind ``slip``; ``model`` names
    the reference's model, e.g. ``SLIP_VITB16``), in open_clip's model (``neurogaze.backbones.slip``)."""
    import open_clip

    if not spec.weights:
        raise ConfigError(None, f"backbones.{spec.name}.weights", "the released checkpoint file (kind slip)")
    device = torch.device(device)
    if spec.random:
        network, architecture = random_slip_model(spec.model, spec.seed)
    else:
        network, architecture = load_slip_model(spec.weights, spec.model)
    return OpenClipBackbone(
        spec=spec,
        model=network.to(device),
        preprocess=slip_transform(architecture),
        # SLIP's tokenizer is CLIP's byte-pair encoding at the text tower's context length
        tokenizer=(open_clip.tokenizer.SimpleTokenizer(context_length=dict(architecture.text_cfg)["context_length"])
                   if architecture.has_text else None),
        device=device,
        weights_file=Path(spec.weights),
    )


def slip_transform(architecture: SlipArchitecture):
    """The reference's evaluation transform: Resize(224) bilinear, CenterCrop(224), ImageNet stats."""
    import open_clip

    return open_clip.image_transform(architecture.image_size, is_train=False, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                                     interpolation="bilinear")


__all__ = ["ARCHITECTURES", "SlipArchitecture", "build_slip", "load_slip_model", "open_clip_config",
           "random_slip_model", "read_checkpoint", "slip_transform", "to_open_clip"]
