"""MindEye's diffusion prior: brain tokens -> CLIP image tokens by DALL-E-2-style diffusion.

A non-causal transformer reads [brain tokens, one time token, noisy image tokens] and predicts
the clean image tokens (x0-prediction) at each of ``timesteps`` cosine-schedule steps. Brain and
image conditions are each replaced by learned null tokens with probability ``cond_drop``, which
is what makes classifier-free guidance possible when sampling.

Module and parameter names follow the released MindEye checkpoints (``BrainDiffusionPrior`` with
a ``VersatileDiffusionPriorNetwork`` built on dalle2-pytorch 1.14): ``net.to_time_embeds.0.1.net``,
``net.learned_query``, ``net.causal_transformer.layers.<i>.0`` (attention: ``norm.g``, ``null_kv``,
``to_q``, ``to_kv``, ``rotary_emb.freqs``, ``to_out``), ``net.causal_transformer.layers.<i>.1``
(SwiGLU feed-forward), ``net.null_brain_embeds``, ``net.null_image_embed`` and the schedule's
buffers under ``noise_scheduler``; a released file therefore loads with ``strict=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

# T5-style relative position buckets, as the released prior uses them.
REL_POS_BUCKETS = 32
REL_POS_MAX_DISTANCE = 128
# Cosine-similarity attention with a fixed temperature (dalle2-pytorch's default).
COSINE_SIM_SCALE = 16


@dataclass(frozen=True)
class PriorConfig:
    """Sizes of the prior. Paper: 257 tokens x 768, depth 6, 12 heads of 64, 100 steps, drop 0.2."""

    n_tokens: int = 257
    dim: int = 768
    depth: int = 6
    dim_head: int = 64
    heads: int = 12
    ff_mult: int = 4
    timesteps: int = 100
    cond_drop: float = 0.2


class LayerNormGain(nn.Module):
    """Layer norm with a gain and no bias; ``stable`` divides by the row maximum first."""

    def __init__(self, dim: int, stable: bool = False, eps: float = 1e-5):
        super().__init__()
        self.g = nn.Parameter(torch.ones(dim))
        self.stable = stable
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stable:
            x = x / x.amax(dim=-1, keepdim=True).detach()
        var = x.var(dim=-1, unbiased=False, keepdim=True)
        return (x - x.mean(dim=-1, keepdim=True)) * (var + self.eps).rsqrt() * self.g


class SinusoidalEmbedding(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=t.device, dtype=t.dtype) * -(math.log(10000) / (half - 1)))
        angles = t[:, None] * freqs[None]
        return torch.cat((angles.sin(), angles.cos()), dim=-1)


class TimeMLP(nn.Module):
    """dim -> 2 dim -> 2 dim -> dim with SiLU (key layout ``net.0.0``, ``net.1.0``, ``net.2``)."""

    def __init__(self, dim: int):
        super().__init__()
        hidden = 2 * dim
        self.net = nn.Sequential(
            nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Identity()),
            nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Identity()),
            nn.Linear(hidden, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float())


class RotaryEmbedding(nn.Module):
    """Rotary position embedding on the first ``2 * len(freqs)`` features (interleaved pairs)."""

    def __init__(self, dim: int, theta: float = 10000.0):
        super().__init__()
        freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
        self.freqs = nn.Parameter(freqs, requires_grad=False)

    def rotate(self, t: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(t.shape[-2], device=t.device, dtype=self.freqs.dtype)
        angles = torch.repeat_interleave(positions[:, None] * self.freqs[None], 2, dim=-1).to(t)
        rot = angles.shape[-1]
        head, tail = t[..., :rot], t[..., rot:]
        pairs = head.unflatten(-1, (-1, 2))
        rotated_half = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
        return torch.cat((head * angles.cos() + rotated_half * angles.sin(), tail), dim=-1)


class RelPosBias(nn.Module):
    def __init__(self, heads: int):
        super().__init__()
        self.relative_attention_bias = nn.Embedding(REL_POS_BUCKETS, heads)

    @staticmethod
    def bucket(relative: torch.Tensor) -> torch.Tensor:
        n = torch.clamp(-relative, min=0)
        exact = REL_POS_BUCKETS // 2
        log_ratio = torch.log(n.float().clamp(min=1) / exact) / math.log(REL_POS_MAX_DISTANCE / exact)
        large = exact + (log_ratio * (REL_POS_BUCKETS - exact)).long()
        large = torch.clamp(large, max=REL_POS_BUCKETS - 1)
        return torch.where(n < exact, n, large)

    def forward(self, i: int, j: int, device) -> torch.Tensor:
        relative = torch.arange(j, device=device)[None, :] - torch.arange(i, device=device)[:, None]
        return self.relative_attention_bias(self.bucket(relative)).permute(2, 0, 1)


class Attention(nn.Module):
    """Multi-query attention (one shared key/value head) with a learned null key/value."""

    def __init__(self, dim: int, dim_head: int, heads: int, rotary: RotaryEmbedding):
        super().__init__()
        self.heads = heads
        self.norm = LayerNormGain(dim)
        self.null_kv = nn.Parameter(torch.randn(2, dim_head))
        self.to_q = nn.Linear(dim, dim_head * heads, bias=False)
        self.to_kv = nn.Linear(dim, dim_head * 2, bias=False)
        self.rotary_emb = rotary
        self.to_out = nn.Sequential(nn.Linear(dim_head * heads, dim, bias=False), LayerNormGain(dim))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        x = self.norm(x)
        q = self.to_q(x).unflatten(-1, (self.heads, -1)).transpose(1, 2)  # b h n d
        k, v = self.to_kv(x).chunk(2, dim=-1)  # b n d
        q, k = self.rotary_emb.rotate(q), self.rotary_emb.rotate(k)
        null_k, null_v = (t.expand(batch, 1, -1) for t in self.null_kv.unbind(0))
        k, v = torch.cat((null_k, k), dim=1), torch.cat((null_v, v), dim=1)
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        sim = torch.einsum("bhid,bjd->bhij", q, k) * COSINE_SIM_SCALE + bias
        out = torch.einsum("bhij,bjd->bhid", sim.softmax(dim=-1), v)
        return self.to_out(out.transpose(1, 2).flatten(2))


class SwiGLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = x.chunk(2, dim=-1)
        return x * F.silu(gate)


def feed_forward(dim: int, mult: int) -> nn.Sequential:
    inner = dim * mult
    return nn.Sequential(
        LayerNormGain(dim), nn.Linear(dim, inner * 2, bias=False), SwiGLU(), nn.Identity(), nn.Dropout(0.0),
        nn.Linear(inner, dim, bias=False),
    )


class Transformer(nn.Module):
    def __init__(self, config: PriorConfig):
        super().__init__()
        self.rel_pos_bias = RelPosBias(config.heads)
        rotary = RotaryEmbedding(min(32, config.dim_head))
        self.layers = nn.ModuleList(
            nn.ModuleList([Attention(config.dim, config.dim_head, config.heads, rotary),
                           feed_forward(config.dim, config.ff_mult)])
            for _ in range(config.depth)
        )
        self.norm = LayerNormGain(config.dim, stable=True)
        self.project_out = nn.Linear(config.dim, config.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        bias = self.rel_pos_bias(n, n + 1, x.device)
        for attention, ff in self.layers:
            x = attention(x, bias) + x
            x = ff(x) + x
        return self.project_out(self.norm(x))


class PriorNetwork(nn.Module):
    """Predicts clean image tokens from (noisy image tokens, timestep, brain tokens)."""

    def __init__(self, config: PriorConfig):
        super().__init__()
        self.config = config
        self.to_time_embeds = nn.Sequential(nn.Sequential(SinusoidalEmbedding(config.dim), TimeMLP(config.dim)))
        self.learned_query = nn.Parameter(torch.randn(config.n_tokens, config.dim) * config.dim**-0.5)
        self.causal_transformer = Transformer(config)
        self.null_brain_embeds = nn.Parameter(torch.randn(config.n_tokens, config.dim))
        self.null_image_embed = nn.Parameter(torch.randn(config.n_tokens, config.dim))

    def forward(self, image_tokens, t, brain_tokens, brain_drop: float = 0.0, image_drop: float = 0.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        batch = image_tokens.shape[0]
        keep_brain = _keep_mask(batch, brain_drop, image_tokens.device, generator)
        keep_image = _keep_mask(batch, image_drop, image_tokens.device, generator)
        brain_tokens = torch.where(keep_brain, brain_tokens, self.null_brain_embeds[None].to(brain_tokens))
        image_tokens = torch.where(keep_image, image_tokens, self.null_image_embed[None].to(image_tokens))
        time_token = self.to_time_embeds(t.to(image_tokens.dtype))[:, None]
        tokens = torch.cat((brain_tokens, time_token, image_tokens + self.learned_query[None]), dim=1)
        return self.causal_transformer(tokens)[:, -self.config.n_tokens:]

    def forward_with_cond_scale(self, image_tokens, t, brain_tokens, cond_scale: float = 1.0) -> torch.Tensor:
        conditional = self(image_tokens, t, brain_tokens)
        if cond_scale == 1.0:
            return conditional
        unconditional = self(image_tokens, t, brain_tokens, brain_drop=1.0, image_drop=1.0)
        return unconditional + (conditional - unconditional) * cond_scale


def _keep_mask(batch: int, drop: float, device, generator) -> torch.Tensor:
    if drop <= 0:
        return torch.ones(batch, 1, 1, dtype=torch.bool, device=device)
    if drop >= 1:
        return torch.zeros(batch, 1, 1, dtype=torch.bool, device=device)
    return (torch.rand(batch, generator=generator, device=device) >= drop)[:, None, None]


def cosine_betas(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule."""
    x = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64)
    alphas_cumprod = torch.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    return torch.clip(1 - alphas_cumprod[1:] / alphas_cumprod[:-1], 0, 0.999)


class NoiseSchedule(nn.Module):
    """The Gaussian diffusion's constants, kept as (persistent) buffers like the released files."""

    def __init__(self, timesteps: int):
        super().__init__()
        betas = cosine_betas(timesteps)
        alphas = 1.0 - betas
        cumprod = torch.cumprod(alphas, dim=0)
        cumprod_prev = F.pad(cumprod[:-1], (1, 0), value=1.0)
        posterior_variance = betas * (1.0 - cumprod_prev) / (1.0 - cumprod)
        buffers = {
            "betas": betas,
            "alphas_cumprod": cumprod,
            "alphas_cumprod_prev": cumprod_prev,
            "sqrt_alphas_cumprod": cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - cumprod).sqrt(),
            "log_one_minus_alphas_cumprod": torch.log(1.0 - cumprod),
            "sqrt_recip_alphas_cumprod": (1.0 / cumprod).sqrt(),
            "sqrt_recipm1_alphas_cumprod": (1.0 / cumprod - 1).sqrt(),
            "posterior_variance": posterior_variance,
            "posterior_log_variance_clipped": torch.log(posterior_variance.clamp(min=1e-20)),
            "posterior_mean_coef1": betas * cumprod_prev.sqrt() / (1.0 - cumprod),
            "posterior_mean_coef2": (1.0 - cumprod_prev) * alphas.sqrt() / (1.0 - cumprod),
            "p2_loss_weight": torch.ones_like(betas),  # no p2 reweighting (gamma 0)
        }
        for name, value in buffers.items():
            self.register_buffer(name, value.to(torch.float32))

    @property
    def num_timesteps(self) -> int:
        return int(self.betas.shape[0])

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return _at(self.sqrt_alphas_cumprod, t) * x0 + _at(self.sqrt_one_minus_alphas_cumprod, t) * noise

    def q_posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor):
        mean = _at(self.posterior_mean_coef1, t) * x0 + _at(self.posterior_mean_coef2, t) * xt
        return mean, _at(self.posterior_log_variance_clipped, t)


def _at(values: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return values[t][:, None, None]


class DiffusionPrior(nn.Module):
    """The prior's network plus its schedule; ``image_embed_scale`` = sqrt(dim) as in the paper."""

    def __init__(self, config: PriorConfig):
        super().__init__()
        self.prior_config = config
        self.net = PriorNetwork(config)
        self.noise_scheduler = NoiseSchedule(config.timesteps)
        self.image_embed_scale = config.dim**0.5

    def prior_loss(self, brain_tokens: torch.Tensor, image_tokens: torch.Tensor,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """MSE between predicted and true (scaled) image tokens at a random step; also the prediction
        mapped back to the unscaled space."""
        x0 = image_tokens * self.image_embed_scale
        t = torch.randint(0, self.noise_scheduler.num_timesteps, (x0.shape[0],), generator=generator, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        noisy = self.noise_scheduler.q_sample(x0, t, noise)
        drop = self.prior_config.cond_drop
        pred = self.net(noisy, t, brain_tokens, brain_drop=drop, image_drop=drop, generator=generator)
        return F.mse_loss(pred, x0), pred / self.image_embed_scale

    @torch.no_grad()
    def sample(self, brain_tokens: torch.Tensor, cond_scale: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral DDPM sampling through all steps; returns unscaled image tokens."""
        shape = brain_tokens.shape
        x = torch.randn(shape, generator=generator, device=brain_tokens.device, dtype=brain_tokens.dtype)
        for step in reversed(range(self.noise_scheduler.num_timesteps)):
            t = torch.full((shape[0],), step, dtype=torch.long, device=x.device)
            x0 = self.net.forward_with_cond_scale(x, t, brain_tokens, cond_scale)
            mean, log_variance = self.noise_scheduler.q_posterior(x0, x, t)
            if step == 0:
                x = mean
                break
            noise = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
            x = mean + (0.5 * log_variance).exp() * noise
        return x / self.image_embed_scale


__all__ = ["DiffusionPrior", "NoiseSchedule", "PriorConfig", "PriorNetwork", "cosine_betas"]
