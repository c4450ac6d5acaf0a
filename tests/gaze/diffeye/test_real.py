"""Real data (longrun): DiffEye trained on OSIE's training images (fixations rendered as
trajectories, split 90/10 by image as diffeye_train does) against the centre bias in NSS on the
held-out test images.

No pretrained DINOv2 exists here, and the project's trained backbones (world-clip,
world-simclr) learned the synthetic demo scenes, not photographs: the conditioning is the tiny
DINOv2 with seeded random weights (its patch tokens: a random projection of each patch's
pixels through one attention layer), whose patch features add to position alone in a linear
probe of OSIE's fixation counts (patch-level NSS 0.85 vs 0.80 on the test images). The sizes are
cut to about 10 CPU-minutes on one thread: 90 samples at 30 Hz (OSIE's 3 s), 112 px images (an
8 x 8 patch grid), 1,500 steps at lr 1e-3, 20 samples per image, 20 DDIM steps, guidance 1.
"""

import math

import pytest
import torch

from neurogaze.data.contracts import read_metrics
from neurogaze.gaze.diffeye.stages import diffeye_evaluate, diffeye_train

pytestmark = [pytest.mark.longrun, pytest.mark.realdata]

REAL_RUN = {
    "length": 90, "rate_hz": 30.0, "channels": [32, 64], "n_heads": 4, "time_dim": 64, "patch_grid": 8,
    "cpe_grid": 32, "learning_rate": 1e-3, "batch_size": 32, "train_steps": 1500, "checkpoint_every": 250,
    "inference_steps": 20, "n_samples": 20, "test_fraction": 0.1, "guidance_scale": 1.0, "seed": 0,
    "pixels_per_degree": 24.0, "sigma_deg": 1.0, "detector": {"method": "ivt"}, "sample_batch": 64,
    "backbone": {"weights": None, "image_size": 112, "patch_size": 14, "hidden_size": 32, "layers": 1, "heads": 2},
}


@pytest.mark.xfail(strict=True, reason="not reached (one run, seed 0, 60 test images, about 8 CPU-minutes): NSS of "
                   "DiffEye's saliency maps 0.28 vs the centre bias's 0.76, paired difference -0.48 +- 0.07 (SE); "
                   "9 % of the samples sit clamped on the image border (humans 0 %): undertrained at 1,500 steps, "
                   "and the random backbone carries little saliency")
@pytest.mark.usefixtures("one_thread")
def test_osie_diffeye_saliency_beats_the_centre_bias_in_nss(real_data_dir, tmp_path):
    root = real_data_dir / "osie"
    if not (root / "data" / "eye" / "fixations.mat").is_file():
        pytest.skip(f"OSIE fixations not found under {root}")
    diffeye_train(root=root, out_dir=tmp_path / "model", settings=REAL_RUN)
    diffeye_evaluate(model=tmp_path / "model", root=root, out_dir=tmp_path / "evaluation")
    table = read_metrics(tmp_path / "evaluation" / "metrics.csv")
    nss = table[(table["metric"] == "nss") & (table["unit"] != "dataset_mean")]
    per_image = nss.pivot(index="unit", columns="method", values="value")
    difference = per_image["diffeye"] - per_image["centre_bias"]
    se = difference.std(ddof=1) / math.sqrt(len(difference))
    print(f"OSIE test images (n = {len(difference)}): NSS DiffEye {per_image['diffeye'].mean():.3f}, "
          f"centre bias {per_image['centre_bias'].mean():.3f}, paired difference {difference.mean():.3f} +- {se:.3f}")
    assert torch.load(tmp_path / "model" / "model.pt", weights_only=False)["split"]["test"] == sorted(difference.index)
    # images are the independent units: the paired difference 2 SEs above zero
    assert difference.mean() > 2 * se, (difference.mean(), se)
