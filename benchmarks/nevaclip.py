"""NevaClip scanpaths per second: batched over images x search chains against a one-at-a-time loop.

Both runs use the same backbone, the same settings and the same per-image seeds; the
one-at-a-time loop is the reference's way of running (one image, one search chain, per call).
The script prints scanpaths/s (wall clock and CPU time) for both, the speedup, and the largest
difference between the two runs' fixations in image pixels (it must be ~0: batching does not
change the result).

Images are scikit-image's bundled photographs (real photos, various sizes), cycled to
``--n-images``. The backbone is any name ``neurogaze.backbones.build_backbone`` knows (the demo
``demo-clip`` by default; a released one needs its local weights). The blur is the paper's
(kernel 41, sigma 10 at 224 px) scaled to the backbone's input size unless given.

    python benchmarks/nevaclip.py                          # demo backbone, CPU, 1 thread
    python benchmarks/nevaclip.py --device cuda --n-images 64 --backbone RN50 --weights RN50.pt
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

# bundled with scikit-image (no download), of several sizes and aspect ratios
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def photographs(n: int) -> list[np.ndarray]:
    import skimage.data

    images = [np.ascontiguousarray(getattr(skimage.data, name)(), dtype=np.uint8) for name in PHOTOS]
    return [images[i % len(images)] for i in range(n)]


def scaled_blur(size: int) -> tuple[int, float]:
    """The paper's 41 px / sigma 10 blur at 224 px, scaled to a ``size`` px model input."""
    kernel = round(41 * size / 224)
    kernel += 1 - kernel % 2
    return max(kernel, 3), 10.0 * size / 224


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="demo-clip", help="a registered backbone name")
    parser.add_argument("--model", default=None, help="with --weights: the open_clip architecture (e.g. RN50)")
    parser.add_argument("--weights", default=None, help="a local open_clip checkpoint for --model")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--n-images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32, help="images per batch in the batched run")
    parser.add_argument("--n-starts", type=int, default=1, help="search chains per image (paper: 1)")
    parser.add_argument("--n-fixations", type=int, default=10)
    parser.add_argument("--opt-steps", type=int, default=20)
    parser.add_argument("--blur-kernel", type=int, default=None)
    parser.add_argument("--blur-sigma", type=float, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads on CPU (0: torch's default)")
    args = parser.parse_args()

    from neurogaze.backbones import build_backbone
    from neurogaze.gaze.nevaclip.search import NevaClipConfig, crop_geometry, image_seed, predict_scanpaths
    from neurogaze.runlog import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    spec = args.backbone
    if args.weights:
        model = args.model or args.backbone
        spec = {"name": args.backbone, "kind": "open_clip", "model": model, "weights": args.weights}
    backbone = build_backbone(spec, device)
    size = crop_geometry(backbone, 100, 100).size
    kernel, sigma = scaled_blur(size)
    config = NevaClipConfig(
        n_fixations=args.n_fixations,
        opt_steps=args.opt_steps,
        n_starts=args.n_starts,
        blur_kernel=args.blur_kernel or kernel,
        blur_sigma=args.blur_sigma or sigma,
    )
    images = photographs(args.n_images)
    prompts = ["a photo"] * len(images)
    seeds = [image_seed(config, f"image{i}") for i in range(len(images))]
    print(f"backbone {args.backbone} ({size} px input) on {device}, torch threads {torch.get_num_threads()}")
    print(f"{len(images)} images, {config.n_fixations} fixations x {config.opt_steps} steps, "
          f"{config.n_starts} chain(s), blur {config.blur_kernel}/{config.blur_sigma:.2f}")

    # warm-up (lazy initialisation, kernels) outside the timings
    predict_scanpaths(backbone, images[:2], prompts[:2], seeds[:2], config, batch_size=2)
    (batched, _), wall_b, cpu_b = timed(
        lambda: predict_scanpaths(backbone, images, prompts, seeds, config, batch_size=args.batch_size))
    (single, _), wall_s, cpu_s = timed(
        lambda: predict_scanpaths(backbone, images, prompts, seeds, config, batch_size=1))
    n = len(images)
    difference = max(float(np.abs(a - b).max()) for a, b in zip(batched, single))
    print(f"{'run':<16}{'wall s':>9}{'scanpaths/s':>13}{'cpu s':>9}{'scanpaths/cpu-s':>17}")
    print(f"{'one at a time':<16}{wall_s:>9.2f}{n / wall_s:>13.2f}{cpu_s:>9.2f}{n / cpu_s:>17.2f}")
    print(f"{f'batched ({args.batch_size})':<16}{wall_b:>9.2f}{n / wall_b:>13.2f}{cpu_b:>9.2f}{n / cpu_b:>17.2f}")
    print(f"speedup (wall) {wall_s / wall_b:.1f}x, (cpu) {cpu_s / cpu_b:.1f}x; "
          f"largest fixation difference batched vs one at a time: {difference:.2e} px")


if __name__ == "__main__":
    main()
