"""Backbones: the registry, seeded demo architectures, and local-only loading of released weights."""

import numpy as np
import pytest
import torch

from neurogaze.backbones import BACKBONES, DEMO_CLIP_ARCHITECTURE, build_backbone, resolve_spec
from neurogaze.backbones.open_clip_factory import OpenClipSpec, _find_in_cache
from neurogaze.errors import ConfigError, MissingWeightsError

IMAGES = [np.full((20, 28, 3), value, dtype=np.uint8) for value in (0, 90, 200)]
IMAGES.append(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))


def demo_spec(tmp_path, seed=0, file="demo-clip.pt"):
    return {
        "name": "demo-clip",
        "model": "demo-clip",
        "architecture": DEMO_CLIP_ARCHITECTURE,
        "seed": seed,
        "weights": str(tmp_path / file),
    }


def test_every_registered_backbone_resolves_to_a_spec():
    for name in BACKBONES:
        spec = resolve_spec(name)
        assert spec.name == name and spec.kind == "open_clip"


@pytest.mark.parametrize("name", [name for name, spec in BACKBONES.items() if "architecture" not in spec])
def test_released_backbone_without_local_weights_names_what_to_download(name):
    with pytest.raises(MissingWeightsError, match=f"{BACKBONES[name]['model']}.*{BACKBONES[name]['pretrained']}"):
        build_backbone(name)


def test_missing_weight_file_is_named(tmp_path):
    missing = tmp_path / "ViT-B-32.pt"
    with pytest.raises(MissingWeightsError, match=str(missing)):
        build_backbone({"name": "b32", "model": "ViT-B-32", "pretrained": "openai", "weights": str(missing)})


def test_tag_missing_from_cache_dir_is_reported(tmp_path):
    spec = {"name": "b32", "model": "ViT-B-32", "pretrained": "openai", "cache_dir": str(tmp_path)}
    with pytest.raises(MissingWeightsError, match="not in the cache"):
        build_backbone(spec)


def test_cache_lookup_finds_a_url_checkpoint_offline(tmp_path):
    cfg = {"url": "https://example.org/clip/models/abc/ViT-B-32.pt", "hf_hub": ""}
    assert _find_in_cache(cfg, tmp_path) is None
    (tmp_path / "ViT-B-32.pt").write_bytes(b"weights")
    assert _find_in_cache(cfg, tmp_path) == tmp_path / "ViT-B-32.pt"


def test_unknown_backbone_and_keys_are_config_errors():
    with pytest.raises(ConfigError, match="unknown backbone"):
        resolve_spec("no-such-backbone")
    with pytest.raises(ConfigError, match="backbones.x.widht"):
        OpenClipSpec.from_dict("x", {"model": "demo-clip", "widht": 3})


def test_demo_backbone_is_seeded_and_saved_with_its_config(tmp_path):
    first = build_backbone(demo_spec(tmp_path / "a"))
    second = build_backbone(demo_spec(tmp_path / "b"))
    other_seed = build_backbone(demo_spec(tmp_path / "c", seed=1))
    assert (tmp_path / "a" / "demo-clip.pt").is_file() and (tmp_path / "a" / "demo-clip.json").is_file()
    a, b, c = (model.encode_images(IMAGES) for model in (first, second, other_seed))
    assert a.shape == (len(IMAGES), 32) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3
    assert first.encode_texts(["a photo of a cat", "a dog"]).shape == (2, 32)


def test_demo_weights_are_loaded_from_the_saved_file(tmp_path):
    """The demo goes through pretrained=<file>: changing the file changes the model."""
    spec = demo_spec(tmp_path)
    before = build_backbone(spec).encode_images(IMAGES)
    path = tmp_path / "demo-clip.pt"
    state = torch.load(path, weights_only=True)
    state["visual.proj"] = state["visual.proj"] * 2.0
    torch.save(state, path)
    after = build_backbone(spec).encode_images(IMAGES)
    np.testing.assert_allclose(after, 2.0 * before, rtol=1e-4, atol=1e-6)


def test_a_local_checkpoint_loads_through_the_released_path(tmp_path):
    demo = build_backbone(demo_spec(tmp_path))
    released_style = {"name": "local", "model": "demo-clip", "weights": str(tmp_path / "demo-clip.pt")}
    loaded = build_backbone(released_style)
    assert not resolve_spec(released_style).is_demo
    np.testing.assert_array_equal(loaded.encode_images(IMAGES), demo.encode_images(IMAGES))
