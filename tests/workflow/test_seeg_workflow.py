"""The demo's SEEG analysis end to end: the planted multimodal electrodes are found, trained
models beat their random versions, the linear combination does not explain the multimodal
sites, and the vision-language model of the controlled pair beats its vision-only twin there."""

import json

import numpy as np
import pandas as pd
import pytest

from .conftest import run_snakemake

TARGETS = ["results/seeg/sites.parquet", "results/seeg/summary.json", "results/seeg/regions.csv",
           "results/figures/seeg/electrodes.png", "results/figures/seeg/trained_vs_random.png",
           "results/figures/seeg/ranking.png"]


def _planted(repo):
    """(subject, electrode) -> kind of every good responsive contact (gain > 0), and the silent ones."""
    truth = json.loads((repo / "results" / "synthetic" / "ieeg" / "ground_truth.json").read_text())
    kinds = {}
    for subject, entry in truth["subjects"].items():
        for name, electrode in entry["electrodes"].items():
            if name not in entry["bad_channels"]:
                kinds[(subject, name)] = electrode["kind"] if electrode["gain"] > 0 else "silent"
    return kinds


def _more_by_3_se(better: pd.Series, worse: pd.Series) -> bool:
    """The mean per-site difference is above 3 of its standard errors (p ~ 0.001 one-sided)."""
    difference = (better - worse).to_numpy()
    return difference.mean() > 3 * difference.std(ddof=1) / np.sqrt(len(difference))


@pytest.mark.slow
def test_demo_seeg_recovers_the_planted_sites(workflow_copy):
    run_snakemake(workflow_copy, "--cores", "2", *TARGETS)
    kinds = _planted(workflow_copy)
    sites = pd.read_parquet(workflow_copy / "results/seeg/sites.parquet").set_index(["subject", "electrode"])
    planted = {key for key, kind in kinds.items() if kind == "multimodal"}
    called = set(sites.index[sites["multimodal"]])
    assert len(planted) >= 5  # two subjects, four contacts each, at most one bad contact apiece
    precision, recall = len(called & planted) / max(len(called), 1), len(called & planted) / len(planted)
    assert precision >= 0.8 and recall >= 0.8, (sorted(called), sorted(planted))

    scores = pd.read_parquet(workflow_copy / "results/seeg/scores.parquet")
    peak = scores.groupby(["alignment", "model", "subject", "electrode"])["test_r"].max()

    def at(kind, alignment, model):
        keys = [key for key, k in kinds.items() if k == kind]
        return peak.loc[alignment, model].reindex(pd.MultiIndex.from_tuples(keys))

    # trained beats random on the planted sites each family's model reads, in its alignment
    for kind, alignment, model in (("vision", "vision", "world-simclr"), ("language", "language", "world-text"),
                                   ("multimodal", "language", "world-clip"), ("multimodal", "vision", "world-clip")):
        assert _more_by_3_se(at(kind, alignment, model), at(kind, alignment, f"{model} (random)")), (kind, model)

    # the linear combination does not explain the multimodal sites; world-clip > world-simclr there
    multimodal_sites = sites.loc[sorted(planted)]
    for comparison in ("world-clip > linear combination", "controlled pair: world-clip > world-simclr"):
        assert multimodal_sites[f"wins: {comparison}"].mean() >= 0.8, comparison
    assert _more_by_3_se(at("multimodal", "language", "world-clip"), at("multimodal", "language", "linear combination"))
    assert _more_by_3_se(at("multimodal", "language", "world-clip"), at("multimodal", "language", "world-simclr"))

    summary = json.loads((workflow_copy / "results/seeg/summary.json").read_text())
    assert summary["multimodal"] == len(called) and summary["paper"]["multimodal"] == 141
    regions = pd.read_csv(workflow_copy / "results/seeg/regions.csv").set_index("region")
    assert regions.loc["temporo-parietal junction", "multimodal"] == len(called & planted)
    for target in TARGETS[3:]:
        assert (workflow_copy / target).stat().st_size > 10_000, target
