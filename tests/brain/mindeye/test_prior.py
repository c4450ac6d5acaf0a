"""MindEye's diffusion prior: schedule, attention pieces, condition dropout, learning a planted map."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neurogaze.brain.mindeye import prior as mp

SMALL = mp.PriorConfig(n_tokens=5, dim=16, depth=2, dim_head=8, heads=2, timesteps=20, cond_drop=0.2)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_cosine_schedule_matches_its_closed_form():
    T, s = 100, 0.008
    alpha_bar = np.cos(((np.arange(T + 1) / T) + s) / (1 + s) * np.pi / 2) ** 2
    alpha_bar /= alpha_bar[0]
    schedule = mp.NoiseSchedule(T)
    expected = np.clip(1 - alpha_bar[1:] / alpha_bar[:-1], 0, 0.999)
    np.testing.assert_allclose(schedule.betas.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(schedule.alphas_cumprod.numpy(), np.cumprod(1 - expected), rtol=1e-4)
    total = schedule.sqrt_alphas_cumprod**2 + schedule.sqrt_one_minus_alphas_cumprod**2
    assert torch.allclose(total, torch.ones(T), atol=1e-5)


def test_posterior_of_a_known_x0_is_the_ddpm_formula():
    schedule = mp.NoiseSchedule(10)
    x0, xt, t = torch.randn(1, 2, 3), torch.randn(1, 2, 3), torch.tensor([4])
    a_bar, a_bar_prev = schedule.alphas_cumprod[4], schedule.alphas_cumprod[3]
    beta = schedule.betas[4]
    expected = (a_bar_prev.sqrt() * beta * x0 + (1 - beta).sqrt() * (1 - a_bar_prev) * xt) / (1 - a_bar)
    mean, log_var = schedule.q_posterior(x0, xt, t)
    assert torch.allclose(mean, expected, atol=1e-5)
    assert math.isclose(float(log_var.flatten()[0].exp()), float(beta * (1 - a_bar_prev) / (1 - a_bar)), rel_tol=1e-4)


def test_rotary_scores_depend_only_on_relative_position():
    rotary = mp.RotaryEmbedding(8)
    q = torch.randn(1, 8).expand(6, 8)[None]  # the same vector at positions 0..5
    k = torch.randn(1, 8).expand(6, 8)[None]
    rq, rk = rotary.rotate(q)[0], rotary.rotate(k)[0]
    assert torch.allclose(rq.norm(dim=-1), q[0].norm(dim=-1), atol=1e-5)
    scores = rq @ rk.T
    assert torch.allclose(scores[1, 0], scores[4, 3], atol=1e-5)
    assert torch.allclose(scores[0, 2], scores[3, 5], atol=1e-5)


def test_relative_position_buckets():
    rel = torch.tensor([-3, -15, 0, 4, -200])
    assert mp.RelPosBias.bucket(rel).tolist() == [3, 15, 0, 0, 31]


def test_dropped_brain_condition_is_ignored():
    torch.manual_seed(0)
    net = mp.PriorNetwork(SMALL).eval()
    image, t = torch.randn(3, 5, 16), torch.tensor([1, 5, 9])
    a = net(image, t, torch.randn(3, 5, 16), brain_drop=1.0)
    b = net(image, t, torch.randn(3, 5, 16), brain_drop=1.0)
    assert torch.allclose(a, b)
    c = net(image, t, torch.randn(3, 5, 16))
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prior_learns_a_planted_map_and_samples_near_it(seed):
    # 500 steps at lr 1e-2: the prior starts using the brain condition only after a sudden transition.
    # The former 300 steps at 3e-3 cleared own > other + 0.2 for 3 of seeds 0-9 (0.23-0.44; the rest
    # -0.11 to 0.09). Here, over seeds 0-11: late loss 0.32-0.36 x the zero prediction, own - other
    # 0.83-0.93 (over 64 samples).
    torch.manual_seed(seed)
    prior = mp.DiffusionPrior(SMALL)
    mix = torch.randn(16, 16) / 4
    optimizer = torch.optim.AdamW(prior.parameters(), lr=1e-2)
    losses = []
    for _ in range(500):
        brain = torch.randn(32, 5, 16)
        image = torch.tanh(brain @ mix) / 4
        loss, _ = prior.prior_loss(brain, image)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    brain = torch.randn(64, 5, 16)
    truth = torch.tanh(brain @ mix) / 4
    # well below the loss of always predicting zero (the prior's mean), which is below the start
    # (first 10 steps: 1.17-1.40 x the zero prediction)
    zero_prediction = float((truth * prior.image_embed_scale).pow(2).mean())
    assert np.mean(losses[-30:]) < 0.6 * zero_prediction < np.mean(losses[:10])
    prior.eval()
    sample = prior.sample(brain, generator=torch.Generator().manual_seed(seed + 1))
    again = prior.sample(brain, generator=torch.Generator().manual_seed(seed + 1))
    assert torch.equal(sample, again)
    own = torch.nn.functional.cosine_similarity(sample.flatten(1), truth.flatten(1)).mean()
    other = torch.nn.functional.cosine_similarity(sample.flatten(1), truth.roll(1, 0).flatten(1)).mean()
    assert own > other + 0.5, (own, other)


def test_guidance_scale_one_is_the_conditional_prediction():
    torch.manual_seed(0)
    net = mp.PriorNetwork(SMALL).eval()
    args = (torch.randn(2, 5, 16), torch.tensor([3, 7]), torch.randn(2, 5, 16))
    assert torch.allclose(net.forward_with_cond_scale(*args, cond_scale=1.0), net(*args))
    guided = net.forward_with_cond_scale(*args, cond_scale=3.0)
    uncond = net(*args, brain_drop=1.0, image_drop=1.0)
    assert torch.allclose(guided, uncond + 3.0 * (net(*args) - uncond), atol=1e-5)
