"""ALBEF (Li et al. 2021) from its released checkpoint, for the SEEG comparison.

The release (``ALBEF.pth`` 14M, ``ALBEF_4M.pth``; a dict whose ``model`` holds the state dict) is
the pretraining model: a ViT-B/16 image encoder (``visual_encoder.*``, timm's VisionTransformer
layout), a BERT-base whose first ``fusion_layer`` (6) layers encode the text alone and whose last 6
fuse it with the image by cross-attention (``text_encoder.bert.*``, ``text_encoder.cls.*`` the MLM
head), the 256-d contrastive projections ``vision_proj`` / ``text_proj``, and the momentum copies,
queues, ITM head and temperature of training. No library ships the model (salesforce-lavis pins
transformers < 4.27 and timm 0.4.12), so it is assembled from libraries: timm's
``VisionTransformer`` for the image tower (its parameter names are ALBEF's), transformers'
``BertModel`` with ``fusion_layer`` layers for the text tower (``text_encoder.bert.`` -> ``text_encoder.``)
and the two projections. The training-only tensors and the fusion layers are not read.

Features are ALBEF's image-text contrastive ones (``model_pretrain.ALBEF.forward``, LAVIS'
``albef_feature_extractor``): the L2-normalised projection of each tower's CLS state. Texts are
padded to ``max_length`` (LAVIS: 30) with the BERT tokenizer of ``bert-base-uncased``; images are
resized to the checkpoint's resolution (bicubic) and normalised with CLIP's mean and SD, ALBEF's
test transform. Layers are the modules ``visual_encoder.blocks.<i>`` and
``text_encoder.encoder.layer.<i>``.

The random version builds the same architecture from ``seed`` and re-initialises it as the SEEG
reference re-initialises its LAVIS models (:func:`neurogaze.backbones.hf.reinitialise_like_lavis`);
it reads the tokenizer, never the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from PIL import Image
from timm.models.vision_transformer import VisionTransformer
from torchvision import transforms

from neurogaze.backbones.hf import (
    PretrainedBackbone,
    PretrainedSpec,
    check_state_dict,
    read_state,
    reinitialise_like_lavis,
    seeded,
)
from neurogaze.config import from_section
from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError

# ALBEF's test transform (Retrieval.py; LAVIS' blip_image_eval): CLIP's statistics
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TEXT_PREFIX, FEATURE_PREFIX = "text_encoder.bert.", "text_encoder."


@dataclass(frozen=True)
class AlbefArchitecture:
    """ALBEF's sizes: the ViT-B/16 of configs/Pretrain.yaml (image_res 256) and the text part of
    configs/config_bert.json (BERT-base, fusion_layer 6), embed_dim 256. A checkpoint of other
    sizes is refused by name (shapes)."""

    image_size: int = 256
    patch_size: int = 16
    vision_width: int = 768
    vision_layers: int = 12
    vision_heads: int = 12
    text_layers: int = 6  # config_bert.json's fusion_layer: the layers before cross-attention
    text_width: int = 768
    text_heads: int = 12
    text_intermediate: int = 3072
    vocab_size: int = 30522
    max_position_embeddings: int = 512
    embed_dim: int = 256


@dataclass(frozen=True)
class AlbefSpec(PretrainedSpec):
    """Kind ``albef``: ``weights`` the released checkpoint, ``tokenizer`` a folder with the BERT
    tokenizer (the hub's ``bert-base-uncased``: vocab.txt, tokenizer_config.json)."""

    model: str = "ALBEF"
    kind: str = "albef"
    pooling: str = "features"
    max_length: int = 30  # LAVIS albef_feature_extractor's max_txt_len
    tokenizer: str | None = None
    albef: AlbefArchitecture = field(default_factory=AlbefArchitecture)

    @classmethod
    def from_dict(cls, name: str, spec: dict) -> AlbefSpec:
        spec = {key: value for key, value in spec.items() if value is not None}
        known = {"kind", "model", "weights", "tokenizer", "albef", "max_length", "random", "seed"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigError(None, f"backbones.{name}.{unknown[0]}", f"unknown key for kind 'albef' "
                              f"(allowed: {sorted(known)})")
        spec["albef"] = from_section(AlbefArchitecture, spec.get("albef"), f"backbones.{name}.albef")
        return cls(name=name, **spec)


class Albef(torch.nn.Module):
    """ALBEF's two unimodal towers and their contrastive projections."""

    def __init__(self, sizes: AlbefArchitecture):
        super().__init__()
        self.visual_encoder = VisionTransformer(
            img_size=sizes.image_size, patch_size=sizes.patch_size, embed_dim=sizes.vision_width,
            depth=sizes.vision_layers, num_heads=sizes.vision_heads, mlp_ratio=4.0, qkv_bias=True, num_classes=0,
            global_pool="token", norm_layer=partial(torch.nn.LayerNorm, eps=1e-6))
        config = transformers.BertConfig(
            vocab_size=sizes.vocab_size, hidden_size=sizes.text_width, num_hidden_layers=sizes.text_layers,
            num_attention_heads=sizes.text_heads, intermediate_size=sizes.text_intermediate,
            max_position_embeddings=sizes.max_position_embeddings, type_vocab_size=2, layer_norm_eps=1e-12)
        self.text_encoder = transformers.BertModel(config, add_pooling_layer=False)
        self.vision_proj = torch.nn.Linear(sizes.vision_width, sizes.embed_dim)
        self.text_proj = torch.nn.Linear(sizes.text_width, sizes.embed_dim)

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        tokens = self.visual_encoder.forward_features(pixel_values)
        return F.normalize(self.vision_proj(tokens[:, 0]), dim=-1)

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_) -> torch.Tensor:
        hidden = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return F.normalize(self.text_proj(hidden[:, 0]), dim=-1)


def albef_state(released: dict[str, torch.Tensor], text_layers: int) -> dict[str, torch.Tensor]:
    """The released tensors :class:`Albef` holds, under its names: the image encoder, the
    projections, the text embeddings and the first ``text_layers`` BERT layers."""
    text_keys = ("embeddings.word_embeddings.", "embeddings.position_embeddings.",
                 "embeddings.token_type_embeddings.", "embeddings.LayerNorm.",
                 *(f"encoder.layer.{index}." for index in range(text_layers)))
    state = {}
    for key, value in released.items():
        if key.startswith(("visual_encoder.", "vision_proj.", "text_proj.")):
            state[key] = value
        elif key.startswith(TEXT_PREFIX) and key[len(TEXT_PREFIX):].startswith(text_keys):
            state[FEATURE_PREFIX + key[len(TEXT_PREFIX):]] = value
    return state


@dataclass
class AlbefBackbone(PretrainedBackbone):
    """ALBEF's ``encode_images`` / ``encode_texts`` (normalised 256-d contrastive features)."""

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.spec.max_length,
                                return_tensors="pt").to(self.device)
        features = self.model.get_text_features(tokens["input_ids"], tokens["attention_mask"])
        return features.float().cpu().numpy()

    @torch.no_grad()
    def encode_images(self, images: list[np.ndarray]) -> np.ndarray:
        pixels = torch.stack([self.image_processor(Image.fromarray(np.asarray(image, dtype=np.uint8)))
                              for image in images]).to(self.device)
        return self.model.get_image_features(pixels).float().cpu().numpy()


def albef_transform(image_size: int):
    return transforms.Compose([
        transforms.Resize((image_size, image_size), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.ToTensor(), transforms.Normalize(CLIP_MEAN, CLIP_STD)])


def build_albef(spec: AlbefSpec, device: torch.device | str = "cpu") -> AlbefBackbone:
    """The released checkpoint ``spec.weights`` in :class:`Albef` (named errors for a file whose
    tensors do not fit), or its random version."""
    tokenizer = _tokenizer(spec)
    if spec.random:
        model = seeded(lambda: reinitialise_like_lavis(Albef(spec.albef)), spec.seed)
    else:
        model = Albef(spec.albef)
        path = _file(spec, spec.weights, "weights", "the released checkpoint (ALBEF.pth or ALBEF_4M.pth)")
        state = albef_state(read_state(path), spec.albef.text_layers)
        check_state_dict(path, state, model.state_dict(), "ALBEF's image encoder, the text encoder's first "
                         f"{spec.albef.text_layers} layers and vision_proj / text_proj (backbones.*.albef: sizes)")
        model.load_state_dict(state)
    device = torch.device(device)
    return AlbefBackbone(spec, model.to(device).eval(), tokenizer, albef_transform(spec.albef.image_size), device,
                         Path(spec.weights or ""))


def _tokenizer(spec: AlbefSpec):
    folder = _file(spec, spec.tokenizer, "tokenizer", "a folder with the BERT tokenizer of bert-base-uncased")
    if not (folder / "vocab.txt").is_file():
        raise DataValidationError(folder / "vocab.txt", "vocab.txt", "the WordPiece vocabulary of bert-base-uncased",
                                  "missing")
    return transformers.BertTokenizerFast.from_pretrained(folder, local_files_only=True)


def _file(spec: AlbefSpec, value: str | None, key: str, what: str) -> Path:
    if not value:
        raise ConfigError(None, f"backbones.{spec.name}.{key}", what)
    path = Path(value)
    if not path.exists():
        raise MissingWeightsError(f"backbone {spec.name!r}: {path} does not exist; put {what} there "
                                  "(nothing is downloaded)")
    return path


__all__ = ["Albef", "AlbefArchitecture", "AlbefBackbone", "AlbefSpec", "albef_state", "build_albef"]
