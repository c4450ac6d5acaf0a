"""MindEye: token targets, losses, schedule, training with resume, retrieval on planted data, released layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from neurogaze.brain import mindeye as me
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.metrics.reconstruction import retrieval_top1

N_TRAIN, N_TEST, N_VOXELS = 1000, 300, 400

# Small widths, the paper's algorithm: BiMixCo then SoftCLIP, prior weighted 30, OneCycle.
DEMO = me.MindEyeConfig(
    n_voxels=N_VOXELS, hidden=256, n_blocks=2, n_tokens=17, token_dim=32, projector_hidden=128,
    epochs=10, batch_size=32, max_lr=1e-3, prior_depth=1, prior_heads=2, prior_dim_head=16, image_augment=False,
)


def smooth_images(n: int, seed: int) -> torch.Tensor:
    """Random smooth colour images in [0, 1], (n, 3, 32, 32)."""
    g = torch.Generator().manual_seed(seed)
    coarse = F.interpolate(torch.rand(n, 3, 4, 4, generator=g), 32, mode="bilinear")
    fine = F.interpolate(torch.rand(n, 3, 8, 8, generator=g), 32, mode="bilinear")
    return (0.6 * coarse + 0.4 * fine).clamp(0, 1)


def planted_voxels(tokens: np.ndarray, n_voxels: int, noise: float, seed: int) -> np.ndarray:
    """A planted linear map of the image tokens to voxels, plus Gaussian noise (noise x signal SD)."""
    rng = np.random.default_rng(seed)
    flat = tokens.reshape(len(tokens), -1)
    flat = (flat - flat.mean(0)) / flat.std(0)
    signal = flat @ rng.standard_normal((flat.shape[1], n_voxels)) / np.sqrt(flat.shape[1])
    voxels = signal + noise * signal.std() * rng.standard_normal(signal.shape)
    return ((voxels - voxels.mean(0)) / voxels.std(0)).astype(np.float32)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; on a busy 2-core machine more threads thrash."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def backbone():
    from neurogaze.backbones import build_backbone

    return build_backbone("demo-clip")


@pytest.fixture(scope="module", params=[0, 1, 2])
def planted(backbone, request):
    """Planted data and training seed: images from seed 2s, the voxel map from 2s + 1, MindEye seed s."""
    seed = request.param
    pixels = smooth_images(N_TRAIN + N_TEST, seed=2 * seed)
    targets = me.TokenTargets(backbone, augment=False)
    tokens = me.target_tokens(targets, pixels)
    return pixels, tokens, planted_voxels(tokens, N_VOXELS, noise=0.7, seed=2 * seed + 1), targets, seed


# --- targets --------------------------------------------------------------------------------


def test_tokens_cls_row_is_the_image_embedding(backbone):
    targets = me.TokenTargets(backbone, augment=False)
    pixels = smooth_images(4, seed=3)
    tokens = me.clip_image_tokens(backbone.model.visual, targets.normalise(pixels))
    assert tokens.shape == (4, 1 + (32 // 8) ** 2, 32)
    embedding = backbone.encode_pixels(pixels)
    assert torch.allclose(tokens[:, 0], embedding, atol=1e-5)


def test_targets_are_scaled_by_the_cls_norm(backbone):
    tokens = me.TokenTargets(backbone, augment=False)(smooth_images(3, seed=4), train=False)
    assert torch.allclose(tokens[:, 0].norm(dim=-1), torch.ones(3), atol=1e-5)
    assert not torch.allclose(tokens[:, 1].norm(dim=-1), torch.ones(3), atol=1e-3)


def test_vit_l14_gives_257_by_768_tokens():
    import open_clip
    from open_clip.transformer import VisionTransformer

    v = open_clip.get_model_config("ViT-L-14")["vision_cfg"]
    with torch.device("meta"):
        visual = VisionTransformer(image_size=v["image_size"], patch_size=v["patch_size"], width=v["width"],
                                   layers=v["layers"], heads=v["width"] // 64, mlp_ratio=4.0, output_dim=768)
        tokens = me.clip_image_tokens(visual, torch.zeros(1, 3, 224, 224))
    assert tuple(tokens.shape) == (1, 257, 768)


# --- model size -----------------------------------------------------------------------------


def test_paper_size_backbone_parameter_count():
    v, h, n, d, p = 15724, 4096, 257, 768, 2048
    linear = lambda i, o: i * o + o
    ln = lambda k: 2 * k
    expected = (linear(v, h) + ln(h) + 4 * (linear(h, h) + ln(h)) + linear(h, n * d)
                + ln(d) + linear(d, p) + ln(p) + linear(p, p) + ln(p) + linear(p, d))
    counted = me.count_parameters(me.MindEyeConfig(), include_prior=False)
    assert counted == expected
    assert 0.93e9 < counted < 0.96e9  # the paper's "about 940 M"


# --- losses and schedule --------------------------------------------------------------------


def test_mixco_nce_without_mixing_is_symmetric_cross_entropy():
    g = torch.Generator().manual_seed(0)
    preds = F.normalize(torch.randn(8, 20, generator=g), dim=-1)
    targs = F.normalize(torch.randn(8, 20, generator=g), dim=-1)
    logits = preds @ targs.T / 0.1
    labels = torch.arange(8)
    reference = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    loss = me.mixco_nce(preds, targs, 0.1, perm=torch.randperm(8, generator=g), betas=torch.ones(8))
    assert torch.allclose(loss, reference, atol=1e-6)


def test_soft_clip_with_orthogonal_targets_is_cross_entropy():
    targs = torch.eye(6, 10)
    preds = F.normalize(torch.randn(6, 10, generator=torch.Generator().manual_seed(1)), dim=-1)
    logits = preds @ targs.T / 0.01
    labels = torch.arange(6)
    reference = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    assert torch.allclose(me.soft_clip_loss(preds, targs, 0.01), reference, atol=1e-5)


def test_mixco_mixes_selected_rows_only():
    torch.manual_seed(0)
    voxels = torch.randn(64, 5)
    mixed, perm, betas = me.mixco(voxels.clone())
    unmixed = betas == 1
    assert 0 < unmixed.sum() < 64  # each row is mixed with probability 0.5: fails with p = 2^-63
    assert torch.allclose(mixed[unmixed], voxels[unmixed])
    b = betas[:, None]
    assert torch.allclose(mixed, voxels * b + voxels[perm] * (1 - b), atol=1e-6)


def test_temperature_schedule():
    config = me.MindEyeConfig(epochs=30)
    assert [me.epoch_temperature(config, e) for e in range(9)] == [0.006] * 9
    soft = [me.epoch_temperature(config, e) for e in range(9, 30)]
    assert soft[0] == pytest.approx(0.004) and soft[-1] == pytest.approx(0.0075)
    assert np.all(np.diff(soft) > 0)


def test_no_weight_decay_on_biases_and_norms():
    model = me.MindEye(DEMO)
    optimizer, _ = me.make_optimizer(model, DEMO, steps_per_epoch=10)
    decayed = {id(p) for p in optimizer.param_groups[0]["params"]}
    assert optimizer.param_groups[0]["weight_decay"] == 1e-2 and optimizer.param_groups[1]["weight_decay"] == 0
    assert id(model.voxel2clip.lin0[1].weight) not in decayed  # LayerNorm gain
    assert id(model.net.causal_transformer.norm.g) not in decayed
    assert id(model.voxel2clip.lin0[0].bias) not in decayed
    assert id(model.voxel2clip.lin0[0].weight) in decayed


# --- training on planted data ---------------------------------------------------------------


def test_retrieval_on_planted_responses(planted):
    pixels, tokens, voxels, targets, seed = planted
    config = me.MindEyeConfig(**{**DEMO.__dict__, "seed": seed})
    model = me.fit_mindeye(voxels[:N_TRAIN], pixels[:N_TRAIN], targets, config, progress=False)
    _, projected = me.predict_tokens(model, voxels[N_TRAIN:])
    scores = retrieval_top1(projected, tokens[N_TRAIN:], subset=300, n_draws=1)
    # seeds 0-7: image 0.88-0.97, brain 0.98-1.00 (one item is 1/300: 0.80 is 25 items below the worst)
    assert scores["image_top1"] >= 0.80 and scores["brain_top1"] >= 0.80, scores


def test_retrieval_is_at_chance_when_fmri_is_shuffled(planted):
    pixels, tokens, voxels, targets, seed = planted
    shuffled = voxels[:N_TRAIN][np.random.default_rng(5 + seed).permutation(N_TRAIN)]
    config = me.MindEyeConfig(**{**DEMO.__dict__, "use_prior": False, "epochs": 6, "seed": seed})
    model = me.fit_mindeye(shuffled, pixels[:N_TRAIN], targets, config, progress=False)
    _, projected = me.predict_tokens(model, voxels[N_TRAIN:])
    scores = retrieval_top1(projected, tokens[N_TRAIN:], subset=300, n_draws=5)
    # Among all 300 test items (one draw), a chance model's hits are ~Poisson(1): 4 % is 12 hits,
    # P(>= 12) < 1e-8. Seeds 0-7 gave 0-3 hits; the planted result is 20x higher.
    assert scores["image_top1"] < 0.04 and scores["brain_top1"] < 0.04, scores


TINY = me.MindEyeConfig(
    n_voxels=20, hidden=16, n_blocks=1, n_tokens=17, token_dim=32, projector_hidden=16, epochs=3,
    batch_size=16, prior_depth=1, prior_heads=1, prior_dim_head=16, image_augment=True,
)


def _tiny_data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((48, 20)).astype(np.float32), smooth_images(48, seed=9)


def test_interrupted_and_resumed_run_ends_with_the_same_weights(tmp_path, backbone):
    voxels, pixels = _tiny_data()
    targets = me.TokenTargets(backbone, augment=True)
    full = me.fit_mindeye(voxels, pixels, targets, TINY, checkpoint=tmp_path / "a.pt", progress=False)
    me.fit_mindeye(voxels, pixels, targets, TINY, checkpoint=tmp_path / "b.pt", progress=False, stop_after_epoch=1)
    torch.manual_seed(1234)  # a resumed process starts with other RNG state
    resumed = me.fit_mindeye(voxels, pixels, targets, TINY, checkpoint=tmp_path / "b.pt", progress=False)
    for key, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_checkpoint_describes_itself(tmp_path, backbone):
    voxels, pixels = _tiny_data()
    config = me.MindEyeConfig(**{**TINY.__dict__, "epochs": 1, "image_augment": False})
    model = me.fit_mindeye(voxels, pixels, me.TokenTargets(backbone, False), config, checkpoint=tmp_path / "m.pt",
                           progress=False)
    loaded, payload = me.load_checkpoint(tmp_path / "m.pt")
    assert me.MindEyeConfig.from_dict(payload["config"]) == config
    assert payload["epoch"] == 1 and "neurogaze_version" in payload and len(payload["history"]) == 1
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])


def test_resume_with_another_config_is_refused(tmp_path, backbone):
    voxels, pixels = _tiny_data()
    targets = me.TokenTargets(backbone, False)
    config = me.MindEyeConfig(**{**TINY.__dict__, "epochs": 1, "image_augment": False})
    me.fit_mindeye(voxels, pixels, targets, config, checkpoint=tmp_path / "m.pt", progress=False)
    other = me.MindEyeConfig(**{**config.__dict__, "max_lr": 1e-3})
    with pytest.raises(ConfigError, match="max_lr"):
        me.fit_mindeye(voxels, pixels, targets, other, checkpoint=tmp_path / "m.pt", progress=False)


@pytest.mark.parametrize("problem", ["voxels", "rows", "nan"])
def test_bad_training_input_is_named(problem, backbone, tmp_path):
    voxels, pixels = _tiny_data()
    if problem == "voxels":
        voxels = voxels[:, :10]
    elif problem == "rows":
        pixels = pixels[:40]
    else:
        voxels[3, 4] = np.nan
    with pytest.raises(DataValidationError, match="responses|stim_ids"):
        me.fit_mindeye(voxels, pixels, me.TokenTargets(backbone, False), TINY, checkpoint=tmp_path / "x.pt",
                       source="subj01.h5")
    assert not (tmp_path / "x.pt").exists()


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
