"""Released SLIP / CLIP / SimCLR checkpoints (Mu et al. 2022) load into open_clip's model: a file
written in the reference's layout (DDP 'module.' keys, a timm ViT with num_classes=0, the image
projection as a matrix, args.model) embeds images exactly as the reference's forward computes it,
and a file of another model or another architecture is a named error."""

import argparse

import numpy as np
import pytest
import timm
import torch

from neurogaze.backbones import build_backbone, slip
from neurogaze.errors import ConfigError, DataValidationError, MissingWeightsError

TEXT = {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}


@timm.models.register_model
def vit_neurogaze_test_patch8_32(pretrained=False, **kwargs):
    """A tiny ViT registered with timm as SLIP registers its ViT-S (vit_small_mocov3_patch16_224)."""
    return timm.models.vision_transformer._create_vision_transformer(
        "vit_neurogaze_test_patch8_32", pretrained=False,
        **dict(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=2, **kwargs))


@pytest.fixture(autouse=True)
def tiny_architectures(monkeypatch):
    for name, has_text in (("SLIP_TEST", True), ("SIMCLR_TEST", False)):
        monkeypatch.setitem(slip.ARCHITECTURES, name, slip.SlipArchitecture(
            "vit_neurogaze_test_patch8_32", 48, has_text, embed_dim=24, image_size=32, text_cfg=tuple(TEXT.items())))


def _reference_checkpoint(path, model="SLIP_TEST", with_text=True):
    """A checkpoint as SLIP's main.py saves it, from a timm trunk and random towers."""
    torch.manual_seed(0)
    trunk = timm.create_model("vit_neurogaze_test_patch8_32", num_classes=0).eval()
    state = {f"module.visual.{key}": value for key, value in trunk.state_dict().items()}
    state["module.image_mlp.layer1.weight"] = torch.randn(16, 48)  # SimCLR head: not part of the embedding
    projection = torch.randn(48, 24) / 7
    if with_text:
        import open_clip

        text = open_clip.model.CLIP(embed_dim=24, vision_cfg={"layers": 1, "width": 64, "patch_size": 8,
                                                              "image_size": 32}, text_cfg=TEXT, quick_gelu=True)
        for key, value in text.state_dict().items():
            if not key.startswith("visual."):
                state[f"module.{key}"] = value
        state["module.image_projection"] = projection
    args = argparse.Namespace(model=model, ssl_mlp_dim=16, ssl_emb_dim=8)
    torch.save({"epoch": 1, "state_dict": state, "args": args, "best_acc1": 0.0}, path)
    return trunk, projection


def _images(n=3):
    return [np.random.default_rng(k).integers(0, 256, (40, 48, 3), dtype=np.uint8) for k in range(n)]


def test_slip_checkpoint_embeds_images_as_the_reference_does(tmp_path):
    path = tmp_path / "slip_test.pt"
    trunk, projection = _reference_checkpoint(path)
    backbone = build_backbone({"name": "slip", "kind": "slip", "model": "SLIP_TEST", "weights": str(path)})
    pixels = backbone.pixels(_images())
    _, normalise = backbone._split_preprocess()
    with torch.no_grad():
        expected = trunk(normalise(pixels)) @ projection  # the reference's encode_image
    np.testing.assert_allclose(backbone.encode_pixels(pixels).numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    assert backbone.encode_texts(["a face on grass."]).shape == (1, 24)
    normalise_step = backbone.preprocess.transforms[-1]
    assert tuple(normalise_step.mean) == slip.IMAGENET_MEAN and tuple(normalise_step.std) == slip.IMAGENET_STD


def test_simclr_checkpoint_is_an_image_only_model(tmp_path):
    path = tmp_path / "simclr_test.pt"
    trunk, _ = _reference_checkpoint(path, model="SIMCLR_TEST", with_text=False)
    backbone = build_backbone({"name": "simclr", "kind": "slip", "model": "SIMCLR_TEST", "weights": str(path)})
    pixels = backbone.pixels(_images())
    _, normalise = backbone._split_preprocess()
    with torch.no_grad():
        expected = trunk(normalise(pixels))  # SimCLR's encode_image: the CLS token itself
    np.testing.assert_allclose(backbone.encode_pixels(pixels).numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="text tower"):
        backbone.encode_texts(["a face."])


def test_wrong_model_missing_tensors_and_missing_file_are_named(tmp_path):
    path = tmp_path / "slip_test.pt"
    _reference_checkpoint(path)
    with pytest.raises(DataValidationError, match="args.model"):
        slip.load_slip_model(path, "SIMCLR_TEST")
    image_only = tmp_path / "simclr_as_slip.pt"
    _reference_checkpoint(image_only, model="SLIP_TEST", with_text=False)
    with pytest.raises(DataValidationError, match="state_dict.*missing"):
        slip.load_slip_model(image_only, "SLIP_TEST")
    with pytest.raises(MissingWeightsError, match="facebookresearch/SLIP"):
        slip.load_slip_model(tmp_path / "absent.pt", "SLIP_TEST")
    with pytest.raises(ConfigError, match="SLIP_VITB16"):
        slip.load_slip_model(path, "SLIP_VITB99")


def test_random_version_keeps_the_architecture_and_reads_no_weights(tmp_path):
    """The paper's untrained control: the checkpoint's architecture from a seed; the same seed gives
    the same network, another seed another, and neither is the trained one."""
    path = tmp_path / "slip_test.pt"
    _reference_checkpoint(path)
    spec = {"name": "slip-random", "kind": "slip", "model": "SLIP_TEST", "weights": str(path), "random": True}
    trained = build_backbone({**spec, "random": False}).encode_images(_images())
    state = torch.random.get_rng_state()
    random = build_backbone(spec).encode_images(_images())
    assert torch.equal(torch.random.get_rng_state(), state)
    np.testing.assert_array_equal(build_backbone(spec).encode_images(_images()), random)
    assert random.shape == trained.shape and not np.allclose(random, trained, atol=1e-3)
    assert not np.allclose(build_backbone({**spec, "seed": 1}).encode_images(_images()), random, atol=1e-3)
    assert build_backbone(spec).encode_texts(["a face on grass."]).shape == (1, 24)
    with pytest.raises(ConfigError, match="random"):
        build_backbone({"name": "clip", "kind": "open_clip", "model": "ViT-B-32", "random": True})
