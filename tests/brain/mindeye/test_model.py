"""MindEye's model: token targets, the paper-size network, the released key layout, schema defaults."""

from __future__ import annotations

import dataclasses

import numpy as np
import open_clip
import pytest
import torch
from open_clip.transformer import VisionTransformer

from neurogaze.brain.mindeye import model as me
from neurogaze.config import schema_defaults
from neurogaze.errors import ConfigError, DataValidationError

from .synthetic import smooth_images

pytestmark = pytest.mark.usefixtures("one_thread")


# --- targets --------------------------------------------------------------------------------


def test_tokens_cls_row_is_the_image_embedding(demo_backbone):
    targets = me.TokenTargets(demo_backbone, augment=False)
    pixels = smooth_images(4, seed=3)
    tokens = me.clip_image_tokens(demo_backbone.model.visual, targets.normalise(pixels))
    assert tokens.shape == (4, 1 + (32 // 8) ** 2, 32)
    embedding = demo_backbone.encode_pixels(pixels)
    assert torch.allclose(tokens[:, 0], embedding, atol=1e-5)


def test_targets_are_scaled_by_the_cls_norm(demo_backbone):
    tokens = me.TokenTargets(demo_backbone, augment=False)(smooth_images(3, seed=4), train=False)
    assert torch.allclose(tokens[:, 0].norm(dim=-1), torch.ones(3), atol=1e-5)
    assert not torch.allclose(tokens[:, 1].norm(dim=-1), torch.ones(3), atol=1e-3)


def test_one_token_config_targets_the_cls_token_alone(demo_backbone):
    config = me.MindEyeConfig(n_tokens=1, token_dim=32)
    targets = me.token_targets(demo_backbone, config, augment=False)
    pixels = smooth_images(2, seed=5)
    full = me.TokenTargets(demo_backbone, augment=False)(pixels, train=False)
    assert torch.equal(targets(pixels, train=False), full[:, :1])


def test_token_grid_that_does_not_match_the_backbone_is_a_config_error(demo_backbone):
    with pytest.raises(ConfigError, match="mindeye.model.n_tokens.*demo-clip"):
        me.token_targets(demo_backbone, me.MindEyeConfig(n_tokens=5, token_dim=32), augment=False)


def test_vit_l14_gives_257_by_768_tokens():
    v = open_clip.get_model_config("ViT-L-14")["vision_cfg"]
    with torch.device("meta"):
        visual = VisionTransformer(image_size=v["image_size"], patch_size=v["patch_size"], width=v["width"],
                                   layers=v["layers"], heads=v["width"] // 64, mlp_ratio=4.0, output_dim=768)
        tokens = me.clip_image_tokens(visual, torch.zeros(1, 3, 224, 224))
    assert tuple(tokens.shape) == (1, 257, 768)


# --- model size and config -------------------------------------------------------------------


def test_paper_size_backbone_parameter_count():
    v, h, n, d, p = 15724, 4096, 257, 768, 2048

    def linear(i, o):
        return i * o + o

    def ln(k):
        return 2 * k

    expected = (linear(v, h) + ln(h) + 4 * (linear(h, h) + ln(h)) + linear(h, n * d)
                + ln(d) + linear(d, p) + ln(p) + linear(p, p) + ln(p) + linear(p, d))
    counted = me.count_parameters(me.MindEyeConfig(), include_prior=False)
    assert counted == expected
    assert 0.93e9 < counted < 0.96e9  # the paper's "about 940 M"


def test_schema_defaults_are_the_config_defaults():
    """Each default is written once, in the schema; the dataclass keeps the paper's values visible."""
    defaults = {field.name: field.default for field in dataclasses.fields(me.MindEyeConfig)}
    schema = {key: tuple(value) if isinstance(value, list) else value
              for key, value in schema_defaults("mindeye.model").items()}
    assert schema == {key: value for key, value in defaults.items() if key != "seed"}  # seed: from the master seed


# --- released checkpoint layout --------------------------------------------------------------


def released_layout(v: int, h: int, blocks: int, n: int, d: int, p: int, depth: int, heads: int, dh: int, steps: int):
    """Key names and shapes of a released MindEye file (BrainDiffusionPrior on dalle2-pytorch 1.14),
    written out here from the release rather than from our model."""
    shapes = {
        "voxel2clip.lin0.0.weight": (h, v), "voxel2clip.lin0.0.bias": (h,),
        "voxel2clip.lin0.1.weight": (h,), "voxel2clip.lin0.1.bias": (h,),
        "voxel2clip.lin1.weight": (n * d, h), "voxel2clip.lin1.bias": (n * d,),
        "voxel2clip.projector.0.weight": (d,), "voxel2clip.projector.0.bias": (d,),
        "voxel2clip.projector.2.weight": (p, d), "voxel2clip.projector.2.bias": (p,),
        "voxel2clip.projector.3.weight": (p,), "voxel2clip.projector.3.bias": (p,),
        "voxel2clip.projector.5.weight": (p, p), "voxel2clip.projector.5.bias": (p,),
        "voxel2clip.projector.6.weight": (p,), "voxel2clip.projector.6.bias": (p,),
        "voxel2clip.projector.8.weight": (d, p), "voxel2clip.projector.8.bias": (d,),
        "net.to_time_embeds.0.1.net.0.0.weight": (2 * d, d), "net.to_time_embeds.0.1.net.0.0.bias": (2 * d,),
        "net.to_time_embeds.0.1.net.1.0.weight": (2 * d, 2 * d), "net.to_time_embeds.0.1.net.1.0.bias": (2 * d,),
        "net.to_time_embeds.0.1.net.2.weight": (d, 2 * d), "net.to_time_embeds.0.1.net.2.bias": (d,),
        "net.learned_query": (n, d), "net.null_brain_embeds": (n, d), "net.null_image_embed": (n, d),
        "net.causal_transformer.rel_pos_bias.relative_attention_bias.weight": (32, heads),
        "net.causal_transformer.norm.g": (d,), "net.causal_transformer.project_out.weight": (d, d),
    }
    for b in range(blocks):
        shapes |= {f"voxel2clip.mlp.{b}.0.weight": (h, h), f"voxel2clip.mlp.{b}.0.bias": (h,),
                   f"voxel2clip.mlp.{b}.1.weight": (h,), f"voxel2clip.mlp.{b}.1.bias": (h,)}
    for i in range(depth):
        a, f = f"net.causal_transformer.layers.{i}.0", f"net.causal_transformer.layers.{i}.1"
        shapes |= {f"{a}.norm.g": (d,), f"{a}.null_kv": (2, dh), f"{a}.to_q.weight": (heads * dh, d),
                   f"{a}.to_kv.weight": (2 * dh, d), f"{a}.rotary_emb.freqs": (min(32, dh) // 2,),
                   f"{a}.to_out.0.weight": (d, heads * dh), f"{a}.to_out.1.g": (d,),
                   f"{f}.0.g": (d,), f"{f}.1.weight": (8 * d, d), f"{f}.5.weight": (d, 4 * d)}
    for name in ("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                 "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
                 "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
                 "posterior_mean_coef1", "posterior_mean_coef2", "p2_loss_weight"):
        shapes[f"noise_scheduler.{name}"] = (steps,)
    return shapes


def test_a_checkpoint_in_the_released_layout_loads(tmp_path):
    shapes = released_layout(v=50, h=24, blocks=2, n=5, d=32, p=40, depth=2, heads=2, dh=16, steps=10)
    g = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=g) for k, s in shapes.items()}
    # the rotary module is shared by all layers, so a real file holds the same frequencies under each
    freqs = [k for k in state if k.endswith("rotary_emb.freqs")]
    for key in freqs:
        state[key] = state[freqs[0]]
    torch.save({"epoch": 239, "model_state_dict": state, "optimizer_state_dict": {}}, tmp_path / "last.pth")
    model = me.load_released_mindeye(tmp_path / "last.pth")
    c = model.config
    assert (c.n_voxels, c.hidden, c.n_blocks, c.n_tokens, c.token_dim, c.projector_hidden) == (50, 24, 2, 5, 32, 40)
    assert (c.prior_depth, c.prior_heads, c.prior_dim_head, c.prior_timesteps) == (2, 2, 16, 10)
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value), key
    raw, projected = me.predict_tokens(model, np.zeros((3, 50), np.float32))
    assert raw.shape == projected.shape == (3, 5, 32)


def test_paper_size_model_has_the_released_shapes():
    shapes = released_layout(v=15724, h=4096, blocks=4, n=257, d=768, p=2048, depth=6, heads=12, dh=64, steps=100)
    with torch.device("meta"):
        model = me.MindEye(me.MindEyeConfig())
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == shapes


def test_released_file_with_wrong_keys_is_named(tmp_path):
    shapes = released_layout(v=50, h=24, blocks=1, n=5, d=32, p=40, depth=1, heads=2, dh=16, steps=10)
    state = {k: torch.zeros(s) for k, s in shapes.items() if not k.endswith("to_kv.weight")}
    torch.save({"model_state_dict": state}, tmp_path / "broken.pth")
    with pytest.raises(DataValidationError, match="broken.pth.*to_kv"):
        me.load_released_mindeye(tmp_path / "broken.pth")


def test_predicting_from_the_wrong_voxel_count_is_named():
    model = me.MindEye(me.MindEyeConfig(n_voxels=20, hidden=16, n_blocks=1, n_tokens=2, token_dim=8,
                                        projector_hidden=8, prior_depth=1, prior_heads=1, prior_dim_head=8))
    with pytest.raises(DataValidationError, match="responses.*20"):
        me.predict_tokens(model, np.zeros((2, 19), np.float32))
