"""The demo's planted truth (longrun): on the synthetic OSIE-like set, whose fixations are drawn
from Gaussians on the world objects' boxes plus a central bias, DiffEye's samples dwell on the
objects more than the centre-bias baseline does, and removing the CPE makes them dwell less."""

import json
import math

import numpy as np
import pytest
import torch

from neurogaze.config import load_config, repository_root
from neurogaze.data.gaze.osie import load_osie
from neurogaze.gaze.baselines import fit_centre_bias
from neurogaze.gaze.diffeye.stages import diffeye_evaluate, diffeye_train
from neurogaze.metrics.objects import inside_boxes
from neurogaze.metrics.saliency import centre_bias_map
from neurogaze.stages import STAGES


def dwell(evaluation, truth: dict, bias: dict) -> tuple[np.ndarray, float]:
    """Per sampled trajectory: its share of samples inside the image's object boxes; and the
    centre-bias baseline's expected share (the fitted centre-bias map's mass inside the boxes,
    averaged over the scored images)."""
    samples = np.load(evaluation / "samples.npz")
    entries = {entry["img"].rsplit(".", 1)[0]: entry for entry in truth["images"]}
    width, height = truth["config"]["width"], truth["config"]["height"]
    yy, xx = np.mgrid[:height, :width] + 0.5
    per_trajectory, centre = [], []
    for stim_id, trajectories in zip(samples["stim_ids"], samples["trajectories"]):
        boxes = [obj["bbox"] for obj in entries[str(stim_id)]["objects"]]
        per_trajectory += [inside_boxes(xy[:, 0] * width, xy[:, 1] * height, boxes).mean() for xy in trajectories]
        centre.append(float(centre_bias_map(width, height, **bias)[inside_boxes(xx, yy, boxes)].sum()))
    return np.asarray(per_trajectory), float(np.mean(centre))


# The demo's own 10 OSIE-like images are too few to learn where gaze goes on a new image (one run:
# 2.5 % of the samples on the objects vs the centre bias's 7.9 %); this check generates 40 at the
# demo's size and trains 1,500 steps (about 10 CPU-minutes per variant, guidance 1).
DEMO_SET = {"n_images": 40}
DEMO_RUN = {"train_steps": 1500, "guidance_scale": 1.0, "test_fraction": 0.25}


@pytest.mark.longrun
@pytest.mark.xfail(strict=True, reason="not reached at these sizes (one run, an OSIE-like set of 40 images, seed 0): "
                   "27.5 % +- 2.7 % (SE, 100 sampled trajectories on 10 held-out images) of DiffEye's samples on "
                   "the planted objects vs 23.5 % expected of the fitted centre bias (humans 70.7 %), without CPE "
                   "23.3 % +- 2.6 %; NSS 0.20 (without CPE 0.09) vs the centre bias's 0.36")
def test_demo_diffeye_dwells_on_the_planted_objects_and_cpe_helps(tmp_path):
    torch.set_num_threads(1)
    config = load_config(repository_root() / "config" / "config.yaml")
    root = tmp_path / "osie"
    generate_params = STAGES["generate_osie"].params(config)
    generate_params["settings"] = {**generate_params["settings"], **DEMO_SET}
    STAGES["generate_osie"].load()(root=root, **generate_params)
    truth = json.loads((root / "ground_truth.json").read_text())
    settings = {**STAGES["diffeye_train"].params(config)["settings"], **DEMO_RUN}
    data = load_osie(root)
    shares = {}
    for variant in ("cpe", "no_cpe"):
        diffeye_train(root=root, out_dir=tmp_path / variant, settings=settings, variant=variant)
        diffeye_evaluate(model=tmp_path / variant, root=root, out_dir=tmp_path / f"evaluation_{variant}")
        split = torch.load(tmp_path / variant / "model.pt", weights_only=False)["split"]
        train_fixations = data.fixations[data.fixations["stim_id"].isin(split["train"])]
        bias = fit_centre_bias(train_fixations, data.image_sizes())  # as diffeye_evaluate's baseline
        shares[variant], baseline = dwell(tmp_path / f"evaluation_{variant}", truth, bias)
    with_cpe, without = shares["cpe"], shares["no_cpe"]
    # trajectories of one image are independent draws given the image; 3 SEs above the baseline
    se = with_cpe.std(ddof=1) / math.sqrt(len(with_cpe))
    assert with_cpe.mean() - baseline > 3 * se, (with_cpe.mean(), baseline, se)
    pooled = math.sqrt(with_cpe.var(ddof=1) / len(with_cpe) + without.var(ddof=1) / len(without))
    assert with_cpe.mean() - without.mean() > 2 * pooled, (with_cpe.mean(), without.mean(), pooled)
