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

pytestmark = pytest.mark.longrun


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


# With 30 training images (a 40-image set) the model learned the training images by heart and
# did no better on held-out ones with their own features than with another image's (24.5 % vs
# 27.6 % of the samples on the objects); with 120 (a 160-image set) still not (16.6 % vs 16.8 %)
# and 18.5 % on the objects, below the centre bias's 20.0 %. With 480 training images (640 at the
# demo's size, 1,500 steps at the demo's settings, guidance 1) it uses the image: on the 160
# held-out images 22.6 % +- 0.6 % with their own features vs 17.1 % +- 0.6 % with another image's
# (the model of seed 0, 10 samples each). About 7-8 CPU-minutes per variant.
DEMO_SET = {"n_images": 640}
DEMO_RUN = {"train_steps": 1500, "guidance_scale": 1.0, "test_fraction": 0.25}


@pytest.fixture(scope="module")
def shares(tmp_path_factory):
    """variant -> (per sampled trajectory share on the objects, the centre bias's expected share)."""
    tmp_path = tmp_path_factory.mktemp("diffeye_demo")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    config = load_config(repository_root() / "config" / "config.yaml")
    root = tmp_path / "osie"
    generate_params = STAGES["generate_osie"].params(config)
    generate_params["settings"] = {**generate_params["settings"], **DEMO_SET}
    STAGES["generate_osie"].load()(root=root, **generate_params)
    truth = json.loads((root / "ground_truth.json").read_text())
    settings = {**STAGES["diffeye_train"].params(config)["settings"], **DEMO_RUN}
    data = load_osie(root)
    out = {}
    for variant in ("cpe", "no_cpe"):
        diffeye_train(root=root, out_dir=tmp_path / variant, settings=settings, variant=variant)
        diffeye_evaluate(model=tmp_path / variant, root=root, out_dir=tmp_path / f"evaluation_{variant}")
        split = torch.load(tmp_path / variant / "model.pt", weights_only=False)["split"]
        train_fixations = data.fixations[data.fixations["stim_id"].isin(split["train"])]
        bias = fit_centre_bias(train_fixations, data.image_sizes())  # as diffeye_evaluate's baseline
        out[variant] = dwell(tmp_path / f"evaluation_{variant}", truth, bias)
        share, baseline = out[variant]
        print(f"DiffEye demo {variant}: {share.mean():.3f} +- {share.std(ddof=1) / math.sqrt(len(share)):.3f} "
              f"of the samples on the objects (n = {len(share)}), centre bias {baseline:.3f}")
    torch.set_num_threads(previous)
    return out


@pytest.mark.xfail(strict=True, reason=(
    "at the demo world's own scale (8 px per degree, the number its evaluation has always used; "
    "DiffEye rendered and detected at 24 until the per-dataset pixels per degree) the CPE model "
    "puts 19.1 % +- 0.6 % of its samples on the objects against the centre bias's 20.1 % (at 24: "
    "23.5 % +- 0.7 %): the only change in its training data is a fixation jitter of 0.4 px instead "
    "of 1.2 px, so the earlier pass rested on a result that one small change of data undoes"))
def test_demo_diffeye_dwells_on_the_planted_objects_more_than_the_centre_bias(shares):
    with_cpe, baseline = shares["cpe"]
    # trajectories of one image are independent draws given the image; 3 SEs above the baseline
    se = with_cpe.std(ddof=1) / math.sqrt(len(with_cpe))
    assert with_cpe.mean() - baseline > 3 * se, (with_cpe.mean(), baseline, se)


def test_demo_removing_the_cpe_makes_diffeye_worse(shares):
    # one run, seed 0 (`pytest -m longrun -s` on this file, 14 minutes on one thread): with CPE
    # 19.1 % +- 0.6 % of the samples on the objects, without 15.6 % +- 0.6 %, the centre bias 20.1 %
    with_cpe, without = shares["cpe"][0], shares["no_cpe"][0]
    pooled = math.sqrt(with_cpe.var(ddof=1) / len(with_cpe) + without.var(ddof=1) / len(without))
    assert with_cpe.mean() - without.mean() > 2 * pooled, (with_cpe.mean(), without.mean(), pooled)
