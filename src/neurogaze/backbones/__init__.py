"""Feature backbones by name: released weights from local files, or tiny seeded demo architectures.

``BACKBONES`` is a plain dict of named specs (what the config's ``backbones:`` section holds);
config entries add to it or override it. ``build_backbone(spec, device)`` builds one.
"""

from __future__ import annotations

import torch

from neurogaze.backbones.albef import AlbefSpec, build_albef
from neurogaze.backbones.hf import PretrainedBackbone, PretrainedSpec, build_timm, build_transformers
from neurogaze.backbones.open_clip_factory import OpenClipBackbone, OpenClipSpec, build_open_clip
from neurogaze.backbones.slip import build_slip
from neurogaze.errors import ConfigError

# A tiny open_clip architecture: builds in milliseconds, embeds 32 px images on a CPU.
DEMO_CLIP_ARCHITECTURE = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}

BACKBONES: dict[str, dict] = {
    "demo-clip": {"kind": "open_clip", "model": "demo-clip", "architecture": DEMO_CLIP_ARCHITECTURE, "seed": 0},
    # Released checkpoints: set `weights` (a local file) or `cache_dir` (open_clip's cache layout).
    "ViT-B-16-laion2b": {"kind": "open_clip", "model": "ViT-B-16", "pretrained": "laion2b_s34b_b88k"},
    "ViT-B-32-openai": {"kind": "open_clip", "model": "ViT-B-32", "pretrained": "openai"},
    "ViT-L-14-openai": {"kind": "open_clip", "model": "ViT-L-14", "pretrained": "openai"},
}

# kind -> (spec from a config entry, builder); "slip": released SLIP/CLIP/SimCLR checkpoints of
# Mu et al. 2022 in open_clip's model (neurogaze.backbones.slip); "transformers" and "timm": local
# snapshots of hub models and timm state dicts (neurogaze.backbones.hf); "albef": ALBEF's released
# checkpoint (neurogaze.backbones.albef)
FACTORIES = {
    "open_clip": (OpenClipSpec.from_dict, build_open_clip),
    "slip": (OpenClipSpec.from_dict, build_slip),
    "transformers": (PretrainedSpec.from_dict, build_transformers),
    "timm": (PretrainedSpec.from_dict, build_timm),
    "albef": (AlbefSpec.from_dict, build_albef),
}


def resolve_spec(name_or_spec: str | dict | OpenClipSpec | PretrainedSpec,
                 configured: dict | None = None) -> OpenClipSpec | PretrainedSpec:
    """Turn a backbone name (looked up in ``configured`` first, then ``BACKBONES``) or dict into a spec."""
    if isinstance(name_or_spec, (OpenClipSpec, PretrainedSpec)):
        return name_or_spec
    if isinstance(name_or_spec, dict):
        spec = dict(name_or_spec)
        name = spec.pop("name", spec.get("model", "backbone"))
    else:
        name = name_or_spec
        registry = {**BACKBONES, **(configured or {})}
        if name not in registry:
            raise ConfigError(None, f"backbones.{name}", f"unknown backbone (known: {sorted(registry)})")
        spec = dict(registry[name])
    kind = spec.get("kind", "open_clip")
    if kind not in FACTORIES:
        raise ConfigError(None, f"backbones.{name}.kind", f"unknown kind {kind!r} (known: {sorted(FACTORIES)})")
    return FACTORIES[kind][0](name, spec)


def build_backbone(
    spec: str | dict | OpenClipSpec | PretrainedSpec, device: torch.device | str = "cpu", configured: dict | None = None
) -> OpenClipBackbone | PretrainedBackbone:
    """Build a backbone by name or spec on ``device`` (no download ever happens)."""
    spec = resolve_spec(spec, configured)
    return FACTORIES[spec.kind][1](spec, device)


def build_demo_backbone(*, weights, spec: dict, name: str, model: str) -> OpenClipBackbone:
    """Rule ``build_demo_backbone``: the demo backbone ``name`` (open_clip architecture ``model``),
    initialised from its seed and saved to ``weights`` like a released checkpoint."""
    if spec.get("architecture") is None:
        raise ConfigError(None, f"backbones.{name}.architecture", "a demo architecture to build (released weights "
                          "are loaded from their file, never built)")
    return build_backbone({**spec, "weights": str(weights)}, device="cpu")


__all__ = ["BACKBONES", "DEMO_CLIP_ARCHITECTURE", "OpenClipBackbone", "OpenClipSpec", "PretrainedBackbone",
           "PretrainedSpec", "build_backbone", "build_demo_backbone", "resolve_spec"]
