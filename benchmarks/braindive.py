"""The cost of a BrainDiVE step: guided (UNet + VAE decode + CLIP + backprop) vs unguided (UNet only).

A guided step runs the UNet, decodes the x0 estimate with the VAE, runs the encoder's CLIP
backbone on it and backpropagates the ROI score to the latent (through the UNet too, unless
--no-grad-through-unet). The benchmark times whole sampling runs of ``--steps`` steps for the
same seeds and batch, unguided and guided, and prints the per-step wall and CPU time and the
ratio. On a shared, oversubscribed machine CPU time is the stable comparison.

The pipeline is the tiny demo architecture (random weights: the cost does not depend on their
values) and the encoder a tiny open_clip ViT; ``--image-size``/``--clip-size`` scale them up.

    python benchmarks/braindive.py                       # 64 px, batch 8, 10 steps
    python benchmarks/braindive.py --batch 32 --steps 30 # the demo's batch, 30 steps
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch


def build(args, scratch: str):
    import open_clip

    from neurogaze.backbones.diffusion import TinySDConfig, build_tiny_pipeline
    from neurogaze.backbones.tokenizer import write_clip_tokenizer
    from neurogaze.brain.braindive.guidance import roi_predictor_from_encoder

    tokenizer = write_clip_tokenizer(os.path.join(scratch, "tokenizer"))
    pipe = build_tiny_pipeline(TinySDConfig(image_size=args.image_size), tokenizer)
    architecture = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": args.clip_size, "layers": 2, "width": 64, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    }
    config_file = os.path.join(scratch, "bench-clip.json")
    with open(config_file, "w") as handle:
        json.dump(architecture, handle)
    open_clip.add_model_config(config_file)
    torch.manual_seed(0)
    model = open_clip.create_model("bench-clip", pretrained=None).eval()
    rng = np.random.default_rng(0)
    predictor = roi_predictor_from_encoder(model, rng.normal(size=(10, 32)), np.zeros(10), np.ones(10, bool),
                                           lowpass_grid=8)
    return pipe, predictor


def time_run(pipe, predictor, config, seeds) -> tuple[float, float]:
    from neurogaze.brain.braindive.guidance import sample_batch

    wall, cpu = time.perf_counter(), time.process_time()
    sample_batch(pipe, predictor, config, seeds)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--clip-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-grad-through-unet", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from neurogaze.brain.braindive.guidance import BrainDiVEConfig, image_seeds

    with tempfile.TemporaryDirectory() as scratch:
        pipe, predictor = build(args, scratch)
    config = BrainDiVEConfig(
        num_inference_steps=args.steps,
        scheduler="DDIMScheduler",
        guidance_scale=100.0,
        n_images=args.batch,
        batch_size=args.batch,
        grad_through_unet=not args.no_grad_through_unet,
        prior_noise_correction=True,
    )
    seeds = image_seeds(config)
    time_run(pipe, None, BrainDiVEConfig(**{**config.__dict__, "num_inference_steps": 1}), seeds)  # warm-up
    results = {}
    for label, guide in (("unguided", None), ("guided", predictor)):
        runs = [time_run(pipe, guide, config, seeds) for _ in range(args.repeats)]
        wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
        results[label] = (wall / args.steps, cpu / args.steps)
    print(f"BrainDiVE step cost: {args.image_size} px images, batch {args.batch}, {args.steps} DDIM steps, "
          f"torch threads {torch.get_num_threads()}, grad through UNet: {config.grad_through_unet}")
    for label, (wall, cpu) in results.items():
        print(f"  {label:9s} {1000 * wall:8.1f} ms wall/step  {1000 * cpu:8.1f} ms CPU/step")
    print(f"  ratio guided/unguided: {results['guided'][0] / results['unguided'][0]:.2f}x wall, "
          f"{results['guided'][1] / results['unguided'][1]:.2f}x CPU")


if __name__ == "__main__":
    main()
