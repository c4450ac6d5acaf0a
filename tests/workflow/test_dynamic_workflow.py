"""The flow decoder on the demo (issue 17; off in the default demo), on the synthetic video set
whose motion-selective voxels follow each clip's planted direction and speed. About 3
CPU-minutes: `pytest -m longrun tests/workflow/test_dynamic_workflow.py`.

- decoded flow beats the same decoder fed shuffled fMRI (permutation p < 0.01) and the training
  mean flow (paired signed-rank p < 0.01 over the test clips), for every subject;
- video vs image features: features of the VideoMAE pretrained on the training clips and
  fine-tuned on their measured motion predict the planted motion voxels better than first-frame
  features of the DINOv2 pretrained on the same clips (the 95% interval of the mean r difference
  over motion voxels, resampling the 16 test clips, above 0), and not elsewhere: the advantage over
  the motion voxels exceeds the advantage over the other voxels (the interval of that difference,
  the same resamples, above 0). Both read the models' output tokens averaged over all tokens.
  Why not "the other voxels' interval holds 0": the other voxels are pure noise, so that interval
  excludes 0 in 5 % of data sets whatever the features (subject 02's noise voxels here: [0.014,
  0.236], the same sign with every video model tried); the per-voxel map's claim is that the
  advantage sits on the motion voxels. Measured (`pytest -m longrun -s` on this file): motion
  voxels r video 0.489 / 0.473 vs image 0.070 / 0.021, intervals [0.274, 0.566] / [0.296, 0.612];
  other voxels -0.037 / 0.089 vs -0.044 / -0.042, intervals [-0.098, 0.117] / [0.014, 0.236];
  motion minus other [0.220, 0.624] / [0.145, 0.537]. With the masked autoencoder alone (no
  motion fine-tuning) the motion voxels' r was 0.009 / -0.007 vs the image model's 0.070 / 0.021.
"""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from neurogaze.brain.dynamic.video_encoding import clip_bootstrap

from .conftest import copy_workflow, run_snakemake

SUBJECTS = ("01", "02")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workflow = copy_workflow(tmp_path_factory.mktemp("dynamic") / "repo")
    targets = [f"results/figures/dynamic/{subject}" for subject in SUBJECTS]
    (workflow / "dynamic_on.yaml").write_text("dynamic:\n  enabled: true\n")  # merged over the demo config
    run_snakemake(workflow, *targets, "--cores", "2", "--configfile", "config/config.yaml", "dynamic_on.yaml")
    return workflow


@pytest.mark.longrun
def test_demo_decoded_flow_beats_shuffled_fmri_and_mean_flow(demo):
    for subject in SUBJECTS:
        folder = demo / "results" / "dynamic" / subject / "evaluation"
        permutation = json.loads((folder / "permutation.json").read_text())
        table = pd.read_csv(folder / "epe.csv").pivot(index="video_id", columns="method", values="epe")
        print(subject, permutation, table.mean().round(3).to_dict())
        assert permutation["p_value"] < 0.01
        assert wilcoxon(table["decoder"], table["mean_flow"], alternative="less").pvalue < 0.01
        for name in ("flow_arrows.png", "epe.png", "video_vs_image.png"):
            assert (demo / "results" / "figures" / "dynamic" / subject / name).is_file()


@pytest.mark.longrun
def test_demo_video_features_beat_image_features_on_motion_voxels_only(demo):
    truth = json.loads((demo / "results" / "synthetic" / "video" / "ground_truth.json").read_text())
    failures = []
    for subject in SUBJECTS:
        folder = demo / "results" / "dynamic" / subject / "encoders"
        voxels = pd.read_csv(folder / "voxels.csv")
        motion = (pd.Series(truth["subjects"][subject]["voxels"]["kind"]) != "noise").to_numpy()
        with np.load(folder / "predictions.npz") as saved:
            # the same seed resamples the same clips for both voxel sets: paired resamples
            boot = {name: clip_bootstrap(saved["responses"], saved["video"], saved["image"], units)
                    for name, units in (("motion", motion), ("other", ~motion))}
        intervals = {"motion": np.percentile(boot["motion"], [2.5, 97.5]),
                     "other": np.percentile(boot["other"], [2.5, 97.5]),
                     "motion_minus_other": np.percentile(boot["motion"] - boot["other"], [2.5, 97.5])}
        print(subject, "motion voxels", voxels[motion][["r_video", "r_image"]].mean().round(3).to_dict(),
              "others", voxels[~motion][["r_video", "r_image"]].mean().round(3).to_dict(),
              {name: value.round(3) for name, value in intervals.items()})
        if not intervals["motion"][0] > 0 or not intervals["motion_minus_other"][0] > 0:
            failures.append((subject, intervals))
    assert not failures
