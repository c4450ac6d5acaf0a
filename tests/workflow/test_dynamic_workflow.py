"""The flow decoder on the demo (issue 17; off in the default demo), on the synthetic video set
whose motion-selective voxels follow each clip's planted direction and speed. About 3
CPU-minutes: `pytest -m longrun tests/workflow/test_dynamic_workflow.py`.

- decoded flow beats the same decoder fed shuffled fMRI (permutation p < 0.01) and the training
  mean flow (paired signed-rank p < 0.01 over the test clips), for every subject;
- video vs image features (expected to fail, strict): features of the VideoMAE pretrained on the
  training clips should predict the planted motion voxels better than first-frame features of the
  DINOv2 pretrained on the same clips (the 95% interval of the mean r difference over motion
  voxels, resampling the 16 test clips, above 0) and the other voxels not differently (that
  interval over them holding 0); both read as dynamic.video says (the MLP units of layer 0,
  averaged over all tokens). On gratings and discs alone it passed (motion voxels r 0.269 / 0.276
  vs -0.018 / -0.012, intervals [0.175, 0.374] / [0.164, 0.397]); with a third of the clips panned
  photographs (the issue's "real photographs moved") it fails: motion voxels 0.073 / -0.003 vs
  0.089 / 0.053, intervals [-0.134, 0.092] / [-0.159, 0.070]; the readout's motion energy does not
  carry over to textured photographs. The decoder check passes on the same set: EPE 0.290 / 0.287
  vs shuffled fMRI 0.550 / 0.556 (p 0.001), mean flow 0.481.
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
@pytest.mark.xfail(strict=True, reason="issue 17: the tiny VideoMAE's layer-0 readout carries no planted motion on "
                                       "panned photographs")
def test_demo_video_features_beat_image_features_on_motion_voxels_only(demo):
    truth = json.loads((demo / "results" / "synthetic" / "video" / "ground_truth.json").read_text())
    failures = []
    for subject in SUBJECTS:
        folder = demo / "results" / "dynamic" / subject / "encoders"
        voxels = pd.read_csv(folder / "voxels.csv")
        motion = (pd.Series(truth["subjects"][subject]["voxels"]["kind"]) != "noise").to_numpy()
        with np.load(folder / "predictions.npz") as saved:
            intervals = {name: np.percentile(clip_bootstrap(saved["responses"], saved["video"], saved["image"], units),
                                             [2.5, 97.5]) for name, units in (("motion", motion), ("other", ~motion))}
        print(subject, "motion voxels", voxels[motion][["r_video", "r_image"]].mean().round(3).to_dict(),
              "others", voxels[~motion][["r_video", "r_image"]].mean().round(3).to_dict(), intervals)
        if not intervals["motion"][0] > 0 or not intervals["other"][0] <= 0 <= intervals["other"][1]:
            failures.append((subject, intervals))
    assert not failures
