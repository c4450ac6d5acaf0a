"""The flow decoder on the demo (issue 17; off in the default demo): on the synthetic video set,
whose motion-selective voxels follow each clip's planted direction and speed, the decoded flow
beats the same decoder fed shuffled fMRI (permutation p < 0.01) and the training mean flow (paired
signed-rank p < 0.01 over the test clips), for every subject; features of the VideoMAE pretrained
on the training clips predict the planted motion voxels better than first-frame image features
(one-sided signed rank over those voxels, p < 0.05) and the other voxels not differently
(two-sided p > 0.05). The voxels share the 16 test clips, so their signed-rank p is optimistic.
Measured (2 subjects): motion voxels r 0.072 / 0.100 (video) vs 0.018 / 0.038 (image), p 0.036 /
0.004; other voxels p 0.14 / 0.70. About 3 CPU-minutes: `pytest -m longrun
tests/workflow/test_dynamic_workflow.py`."""

import json

import pandas as pd
import pytest
from scipy.stats import wilcoxon

from .conftest import run_snakemake

SUBJECTS = ("01", "02")


@pytest.mark.longrun
def test_demo_decoded_flow_beats_shuffled_fmri_and_mean_flow(workflow_copy):
    targets = [f"results/figures/dynamic/{subject}" for subject in SUBJECTS]
    (workflow_copy / "dynamic_on.yaml").write_text("dynamic:\n  enabled: true\n")  # merged over the demo config
    run_snakemake(workflow_copy, "--configfile", "dynamic_on.yaml", "--cores", "2", *targets)
    for subject in SUBJECTS:
        folder = workflow_copy / "results" / "dynamic" / subject / "evaluation"
        permutation = json.loads((folder / "permutation.json").read_text())
        table = pd.read_csv(folder / "epe.csv").pivot(index="video_id", columns="method", values="epe")
        print(subject, permutation, table.mean().round(3).to_dict())
        assert permutation["p_value"] < 0.01
        assert wilcoxon(table["decoder"], table["mean_flow"], alternative="less").pvalue < 0.01
        for name in ("flow_arrows.png", "epe.png", "video_vs_image.png"):
            assert (workflow_copy / "results" / "figures" / "dynamic" / subject / name).is_file()
        voxels = pd.read_csv(workflow_copy / "results" / "dynamic" / subject / "encoders" / "voxels.csv")
        truth = json.loads((workflow_copy / "results" / "synthetic" / "video" / "ground_truth.json").read_text())
        motion = pd.Series(truth["subjects"][subject]["voxels"]["kind"]) != "noise"
        motion = motion.to_numpy()
        print(subject, "motion voxels", voxels[motion][["r_video", "r_image"]].mean().round(3).to_dict(),
              "others", voxels[~motion][["r_video", "r_image"]].mean().round(3).to_dict())
        assert wilcoxon(voxels["r_difference"][motion], alternative="greater").pvalue < 0.05
        assert wilcoxon(voxels["r_difference"][~motion]).pvalue > 0.05
