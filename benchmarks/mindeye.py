"""MindEye: demo-size training throughput on CPU, paper-size parameters and per-step memory, and
retrieval over NSD's 982 shared test images.

Printed:
- training samples per second at the demo size (planted synthetic data, the full algorithm:
  BiMixCo then SoftCLIP, diffusion prior weighted 30), with 1 thread and with all threads;
- the paper-size model's parameter count (15724 voxels -> 4096 -> 257 x 768, projector, prior),
  built on the meta device, so nothing is allocated;
- the paper-size per-step memory: weights + gradients + AdamW moments (16 bytes per parameter)
  plus the activations autograd saves for the backward pass of one batch of 32, counted with
  saved-tensor hooks on the meta device (a lower bound of a real step's peak: no allocator slack,
  no temporaries that are freed during the forward pass);
- retrieval over 982 test items at the paper's token size: time of top-1 among 300 over 30 draws
  and of top-1 among all 982, on random predictions (chance level, which is also checked).

    python benchmarks/mindeye.py            # about a minute on 2 cores
    python benchmarks/mindeye.py --epochs 4 # quicker
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from torch.nn import functional as F

from neurogaze.backbones import build_backbone
from neurogaze.brain.mindeye import model as me
from neurogaze.brain.mindeye import train as mt
from neurogaze.brain.mindeye.low_level import LowLevelConfig, Voxel2Latent
from neurogaze.brain.mindeye.stages import derive
from neurogaze.config import from_section, load_config
from neurogaze.metrics.reconstruction import retrieval_top1

REPO = Path(__file__).resolve().parents[1]


def demo_config() -> me.MindEyeConfig:
    """The demo config's MindEye model (config/config.yaml), as the demo DAG trains it."""
    config = load_config(REPO / "config" / "config.yaml")
    return from_section(me.MindEyeConfig, config["mindeye"]["model"], "mindeye.model",
                        seed=derive(config["seed"], "train"))


def planted_demo(n: int, config: me.MindEyeConfig, seed: int = 0):
    """Smooth random images, their demo-backbone tokens, and voxels = planted map of the tokens + noise."""
    g = torch.Generator().manual_seed(seed)
    pixels = (0.6 * F.interpolate(torch.rand(n, 3, 4, 4, generator=g), 32, mode="bilinear")
              + 0.4 * F.interpolate(torch.rand(n, 3, 8, 8, generator=g), 32, mode="bilinear")).clamp(0, 1)
    targets = me.TokenTargets(build_backbone("demo-clip"), augment=False)
    if config.n_tokens == 1:
        targets = me.LeadingTokens(targets, 1)
    n_voxels = config.n_voxels
    tokens = me.target_tokens(targets, pixels)
    rng = np.random.default_rng(seed + 1)
    flat = tokens.reshape(n, -1)
    flat = (flat - flat.mean(0)) / flat.std(0)
    signal = flat @ rng.standard_normal((flat.shape[1], n_voxels)) / np.sqrt(flat.shape[1])
    voxels = signal + 0.7 * signal.std() * rng.standard_normal(signal.shape)
    return pixels, tokens, ((voxels - voxels.mean(0)) / voxels.std(0)).astype(np.float32), targets


def bench_training(epochs: int, n_train: int = 1000, n_test: int = 300) -> None:
    demo = demo_config()
    pixels, tokens, voxels, targets = planted_demo(n_train + n_test, demo)
    config = me.MindEyeConfig(**{**demo.__dict__, "epochs": epochs})
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        start, cpu = time.perf_counter(), time.process_time()
        model = mt.fit_mindeye(voxels[:n_train], pixels[:n_train], targets, config, progress=False)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        steps = epochs * (n_train // config.batch_size) * config.batch_size
        _, projected = me.predict_tokens(model, voxels[n_train:])
        scores = retrieval_top1(projected, tokens[n_train:], subset=300, n_draws=1)
        print(f"demo training, {threads} thread(s): {steps / wall:7.1f} samples/s wall, {steps / cpu:7.1f} per CPU-s "
              f"({epochs} epochs x {n_train} samples in {wall:.1f} s); held-out top-1 among 300: "
              f"image {scores['image_top1']:.3f}, brain {scores['brain_top1']:.3f} (chance {scores['chance']:.4f})")


def saved_activation_bytes(config: me.MindEyeConfig, batch: int) -> int:
    """Bytes autograd keeps for backward in one training step (BiMixCo phase), on the meta device."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        seen.setdefault(id(t), t.numel() * t.element_size())
        return t

    with torch.device("meta"):
        model = me.MindEye(config)
        voxels = torch.zeros(batch, config.n_voxels)
        target = torch.zeros(batch, config.n_tokens, config.token_dim)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            brain, projected = model.voxel2clip(voxels)
            preds = F.normalize(projected.flatten(1), dim=-1)
            targs = F.normalize(target.flatten(1), dim=-1)
            nce = mt.soft_clip_loss(preds, targs, 0.006)
            prior, _ = model.prior_loss(brain, target)
            _ = nce + config.prior_weight * prior
    return sum(seen.values())


def bench_paper_size(batch: int = 32) -> None:
    config = me.MindEyeConfig()
    total = me.count_parameters(config)
    backbone = me.count_parameters(config, include_prior=False)
    with torch.device("meta"):
        low = sum(p.numel() for p in Voxel2Latent(LowLevelConfig()).parameters())
    print(f"paper size (15724 voxels, 257 x 768 tokens): backbone + projector {backbone / 1e6:.1f} M parameters, "
          f"diffusion prior {(total - backbone) / 1e6:.1f} M, total {total / 1e6:.1f} M; "
          f"low-level path {low / 1e6:.1f} M")
    state = 16 * total  # fp32 weights, gradients, AdamW's two moments
    acts = saved_activation_bytes(config, batch)
    print(f"paper-size training step, batch {batch}, fp32: weights+grads+AdamW {state / 2**30:.1f} GiB + saved "
          f"activations {acts / 2**30:.2f} GiB = {(state + acts) / 2**30:.1f} GiB (lower bound of the peak)")


def bench_retrieval(n: int = 982, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    shape = (n, 257 * 768)
    brain = rng.standard_normal(shape, dtype=np.float32)
    images = rng.standard_normal(shape, dtype=np.float32)
    start = time.perf_counter()
    draws = retrieval_top1(brain, images, subset=300, n_draws=30)
    middle = time.perf_counter()
    full = retrieval_top1(brain, images, subset=n, n_draws=1)
    end = time.perf_counter()
    print(f"retrieval over {n} items of 257 x 768: 30 draws of 300 in {middle - start:.2f} s "
          f"(random predictions: image top-1 {draws['image_top1']:.4f}, chance {draws['chance']:.4f}); "
          f"top-1 among all {n} in {end - middle:.2f} s ({full['image_top1']:.4f}, chance {full['chance']:.4f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    bench_paper_size()
    bench_retrieval()
    bench_training(args.epochs)


if __name__ == "__main__":
    main()
