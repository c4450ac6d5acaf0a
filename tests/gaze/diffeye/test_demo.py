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


@pytest.mark.longrun
def test_demo_diffeye_dwells_on_the_planted_objects_and_cpe_helps(tmp_path):
    torch.set_num_threads(1)
    config = load_config(repository_root() / "config" / "config.yaml")
    root = tmp_path / "osie"
    STAGES["generate_osie"].load()(root=root, **STAGES["generate_osie"].params(config))
    truth = json.loads((root / "ground_truth.json").read_text())
    settings = STAGES["diffeye_train"].params(config)["settings"]
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
    se = with_cpe.std(ddof=1) / math.sqrt(len(with_cpe))
    assert with_cpe.mean() - baseline > 3 * se, (with_cpe.mean(), baseline, se)
    pooled = math.sqrt(with_cpe.var(ddof=1) / len(with_cpe) + without.var(ddof=1) / len(without))
    assert with_cpe.mean() - without.mean() > 2 * pooled, (with_cpe.mean(), without.mean(), pooled)
