"""open_clip backbones: released weights from local files, tiny demo architectures from config.

Both kinds end in the same call, ``open_clip.create_model_and_transforms(name, pretrained=<file>)``:
a demo architecture is registered as an open_clip model config, initialised with a fixed seed,
saved as a state-dict file once, and then loaded back exactly as a released checkpoint would be.
Nothing is ever downloaded; a missing file raises ``MissingWeightsError`` with what to fetch.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError
from neurogaze.io import atomic_path, write_torch

# Demo weights land here unless a spec names its own file.
WEIGHTS_DIR_ENV = "NEUROGAZE_WEIGHTS_DIR"


@dataclass(frozen=True)
class OpenClipSpec:
    """What to build: an open_clip architecture plus where its weights come from.

    Released: ``model`` is an open_clip name (e.g. "ViT-B-16") and either ``weights`` is a local
    checkpoint file or ``pretrained`` is an open_clip tag found in ``cache_dir`` (the layout
    open_clip itself writes). Demo: ``architecture`` is an open_clip model config (embed_dim,
    vision_cfg, text_cfg) and ``seed`` fixes its initialisation; ``weights`` is where it is saved.
    """

    name: str
    model: str
    pretrained: str | None = None
    weights: str | None = None
    cache_dir: str | None = None
    architecture: dict | None = None
    seed: int = 0
    kind: str = "open_clip"
    train: dict | None = None  # a demo backbone trained by the pipeline (neurogaze.backbones.training)
    random: bool = False  # kind slip: the checkpoint's architecture initialised from ``seed``, its weights unread

    @property
    def is_demo(self) -> bool:
        return self.architecture is not None

    @classmethod
    def from_dict(cls, name: str, spec: dict) -> OpenClipSpec:
        known = {"kind", "model", "pretrained", "weights", "cache_dir", "architecture", "seed", "train", "random"}
        # the config schema gives every backbone every kind's keys, null where unset
        spec = {key: value for key, value in spec.items() if value is not None}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigError(None, f"backbones.{name}.{unknown[0]}", f"unknown key (allowed: {sorted(known)})")
        if "model" not in spec:
            raise ConfigError(None, f"backbones.{name}.model", "required key is missing")
        if spec.get("random") and spec.get("kind", "open_clip") != "slip":
            raise ConfigError(None, f"backbones.{name}.random", "random versions of open_clip models are the "
                              "demo's seeded architectures (`architecture`); `random` applies to kinds slip, "
                              "transformers and timm")
        return cls(name=name, **spec)


@dataclass
class OpenClipBackbone:
    """A loaded open_clip model with its own preprocessing and tokenizer, in eval mode."""

    spec: OpenClipSpec
    model: torch.nn.Module
    preprocess: Callable
    tokenizer: Callable | None  # None: an image-only model (a released SimCLR)
    device: torch.device
    weights_file: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def embed_dim(self) -> int:
        return int(self.model.visual.output_dim)

    def _split_preprocess(self) -> tuple[Callable, Callable]:
        """The backbone's preprocessing as (resize/crop/to-tensor, normalise), so that image-space
        augmentations can run on [0, 1] pixels in between."""
        from torchvision.transforms import Compose, Normalize

        steps = list(getattr(self.preprocess, "transforms", []))
        if not steps or not isinstance(steps[-1], Normalize):
            raise TypeError(f"backbone {self.name!r}: preprocessing does not end in Normalize: {self.preprocess}")
        return Compose(steps[:-1]), steps[-1]

    @property
    def normalise_std(self) -> torch.Tensor:
        """The per-channel SD the preprocessing divides [0, 1] pixels by (3,)."""
        return torch.as_tensor(self._split_preprocess()[1].std, dtype=torch.float32)

    def pixels(self, images: list[np.ndarray]) -> torch.Tensor:
        """Resized, cropped [0, 1] pixels (N, 3, H, W) of uint8 HxWx3 images, not yet normalised."""
        from PIL import Image

        to_tensor, _ = self._split_preprocess()
        return torch.stack([to_tensor(Image.fromarray(np.asarray(image, dtype=np.uint8))) for image in images])

    @torch.no_grad()
    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Embed [0, 1] pixels from ``pixels`` (possibly augmented); float32 (N, embed_dim) on device."""
        _, normalise = self._split_preprocess()
        return self.model.encode_image(normalise(pixels.to(self.device))).float()

    @torch.no_grad()
    def encode_images(self, images: list[np.ndarray]) -> np.ndarray:
        return self.encode_pixels(self.pixels(images)).cpu().numpy()

    @torch.no_grad()
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if self.tokenizer is None:
            raise ConfigError(None, f"backbones.{self.name}", "a model with a text tower (this one sees images only)")
        tokens = self.tokenizer(list(texts)).to(self.device)
        return self.model.encode_text(tokens).float().cpu().numpy()


def default_weights_dir() -> Path:
    return Path(os.environ.get(WEIGHTS_DIR_ENV, Path.home() / ".cache" / "neurogaze" / "backbones"))


def demo_weights_path(spec: OpenClipSpec) -> Path:
    """Where a demo backbone's state dict lives: the spec's file, else a file keyed by its config."""
    if spec.weights:
        return Path(spec.weights)
    return default_weights_dir() / f"{spec.model}-{_architecture_digest(spec)}.pt"


def build_open_clip(spec: OpenClipSpec, device: torch.device | str = "cpu") -> OpenClipBackbone:
    """Build a backbone from a spec; demo weights are created (seeded) on first use."""
    import open_clip

    device = torch.device(device)
    options: dict = {}
    if spec.is_demo:
        weights = _materialise_demo(spec)
    else:
        weights, options = _resolve_released(spec)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            spec.model, pretrained=str(weights), device=device, **options
        )
    except RuntimeError as exc:  # load_state_dict: missing, unexpected or differently shaped tensors
        first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise DataValidationError(weights, "state_dict", f"a checkpoint of open_clip's {spec.model!r} "
                                  f"(backbones.{spec.name}.model)", f"another architecture: {first}") from exc
    model.eval()
    return OpenClipBackbone(
        spec=spec,
        model=model,
        preprocess=preprocess,
        tokenizer=open_clip.get_tokenizer(spec.model),
        device=device,
        weights_file=Path(weights),
    )


def _architecture_digest(spec: OpenClipSpec) -> str:
    payload = json.dumps({"architecture": spec.architecture, "seed": spec.seed}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def register_demo_architecture(spec: OpenClipSpec, weights: Path) -> None:
    """Write the architecture as ``<model>.json`` next to its weights and register it with open_clip.

    The JSON beside the state dict makes the saved demo checkpoint describe itself.
    """
    import open_clip

    config_file = weights.parent / f"{spec.model}.json"
    text = json.dumps(spec.architecture, indent=2, sort_keys=True) + "\n"
    if not config_file.exists() or config_file.read_text() != text:
        with atomic_path(config_file) as temp:
            temp.write_text(text)
    open_clip.add_model_config(config_file)


def _register_saved_architecture(model: str, weights: Path) -> None:
    """A checkpoint saved from a demo carries ``<model>.json`` beside it: register it so the file
    loads on its own, as a released checkpoint of a known architecture does."""
    import open_clip

    config_file = weights.parent / f"{model}.json"
    if config_file.is_file():
        open_clip.add_model_config(config_file)


def _materialise_demo(spec: OpenClipSpec) -> Path:
    weights = demo_weights_path(spec)
    weights.parent.mkdir(parents=True, exist_ok=True)
    register_demo_architecture(spec, weights)
    if not weights.exists():
        write_torch(weights, seeded_demo_model(spec).state_dict())
    return weights


def seeded_demo_model(spec: OpenClipSpec) -> torch.nn.Module:
    """A demo architecture (registered with open_clip) initialised from its seed, on the CPU: an
    untrained demo backbone, and the start of a trained one."""
    import open_clip

    # fork_rng keeps the caller's global torch RNG untouched by the seeded initialisation.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        return open_clip.create_model(spec.model, pretrained=None, device="cpu")


def _released_source(spec: OpenClipSpec) -> str:
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(spec.model, spec.pretrained) if spec.pretrained else {}
    where = cfg.get("hf_hub") or cfg.get("url") or "the released checkpoint"
    tag = f" (open_clip tag {spec.pretrained!r})" if spec.pretrained else ""
    return f"{spec.model}{tag} from {where}"


def _resolve_released(spec: OpenClipSpec) -> tuple[Path, dict]:
    """Find a released checkpoint on disk; return it and the preprocessing options of its tag."""
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(spec.model, spec.pretrained) if spec.pretrained else {}
    options = {}
    if cfg:
        options = {
            "image_mean": cfg.get("mean"),
            "image_std": cfg.get("std"),
            "force_quick_gelu": cfg.get("quick_gelu", False),
        }
    if spec.weights:
        path = Path(spec.weights)
        _register_saved_architecture(spec.model, path)
        if not path.is_file():
            raise MissingWeightsError(
                f"backbone {spec.name!r}: weight file {path} does not exist; download {_released_source(spec)} "
                f"and set backbones.{spec.name}.weights to its path (nothing is downloaded automatically)"
            )
        return path, options
    if spec.pretrained and spec.cache_dir:
        found = _find_in_cache(cfg, Path(spec.cache_dir))
        if found is not None:
            return found, options
        raise MissingWeightsError(
            f"backbone {spec.name!r}: {_released_source(spec)} is not in the cache {spec.cache_dir}; download it "
            f"there (open_clip's cache layout) or set backbones.{spec.name}.weights to a local file"
        )
    raise MissingWeightsError(
        f"backbone {spec.name!r}: no local weights configured; download {_released_source(spec)} and set "
        f"backbones.{spec.name}.weights (or pretrained + cache_dir)"
    )


def _find_in_cache(cfg: dict, cache_dir: Path) -> Path | None:
    """Look a tag's file up in a cache dir without any network access."""
    url = cfg.get("url")
    if url:
        candidate = cache_dir / os.path.basename(url)
        if candidate.is_file():
            return candidate
    hub = cfg.get("hf_hub")
    if hub:
        repo_id, filename = os.path.split(hub)
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        for name in [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]:
            found = try_to_load_from_cache(repo_id, name, cache_dir=str(cache_dir))
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
    return None
