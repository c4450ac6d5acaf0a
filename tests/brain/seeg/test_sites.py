"""Site classification from comparison p-values: FDR within each comparison, wins on enough bins."""

import numpy as np
import pandas as pd

from neurogaze.brain.seeg.models import read_models
from neurogaze.brain.seeg.sites import (
    classify,
    comparisons,
    region_counts,
    responsive_electrodes,
    significant_bins,
    wins,
)

SETTINGS = {
    "models": {
        "clip": {"backbone": "c", "inputs": ["image", "text"], "family": "multimodal", "random": "u"},
        "simclr": {"backbone": "s", "inputs": ["image"], "family": "vision", "random": "u"},
        "text": {"backbone": "t", "inputs": ["text"], "family": "language", "random": "u"},
    },
    "linear_combination": {"vision": "simclr", "language": "text"},
    "controlled_pair": {"multimodal": "clip", "vision": "simclr"},
}
BINS = np.arange(4) * 0.1
# electrode -> the comparisons it wins (in both alignments unless the name says one)
PLANTED = {"M": "all", "M-language-only": "all", "V": {"simclr > random"}, "L": {"text > random"}, "S": set()}


def tables():
    models = read_models(SETTINGS)
    found = comparisons(models, SETTINGS["controlled_pair"])
    scores, pvalues = [], []
    names = list(models) + [f"{m} (random)" for m in models] + ["linear combination"]
    for electrode, won in PLANTED.items():
        for alignment in ("language", "vision"):
            responsive = electrode != "S"
            for model in names:
                scores.append(pd.DataFrame({"subject": "01", "alignment": alignment, "electrode": electrode,
                                            "window_start": BINS, "model": model, "test_r": 0.3,
                                            "val_r": 0.3, "val_lcb": 0.1 if responsive else -0.1}))
            for c in found:
                wins_here = (won == "all" and (electrode == "M" or alignment == "language")) or (
                    won != "all" and c.name in won)
                pvalues.append(pd.DataFrame({"subject": "01", "alignment": alignment, "electrode": electrode,
                                             "window_start": BINS, "comparison": c.name, "better": c.better,
                                             "worse": c.worse, "kind": c.kind, "p": 1e-4 if wins_here else 0.5}))
    return models, found, pd.concat(scores), pd.concat(pvalues)


def test_planted_sites_get_their_classes():
    models, found, scores, pvalues = tables()
    responsive = responsive_electrodes(scores, list(models), min_bins=2)
    significant = significant_bins(pvalues, scores, responsive, q=0.05)
    sites = classify(responsive, wins(significant, min_bins=2), models, found).set_index("electrode")
    assert sites.loc["M", ["multimodal", "multimodal_strict"]].tolist() == [True, True]
    assert sites.loc["M-language-only", ["multimodal", "multimodal_strict", "multimodal_language",
                                         "multimodal_vision"]].tolist() == [True, False, True, False]
    assert sites["category"].to_dict() == {"L": "language", "M": "multimodal", "M-language-only": "multimodal",
                                           "S": "not responsive", "V": "vision"}
    sites["region"] = ["a", "a", "b", "b", "b"]
    counts = region_counts(sites.reset_index()).set_index("region")
    assert counts.loc["all", "multimodal"] == 2 and counts.loc["a", "multimodal_share"] == 0.5


def test_a_win_needs_enough_bins():
    models, found, scores, pvalues = tables()
    one_bin = pvalues.assign(p=np.where(pvalues["window_start"] == 0.0, pvalues["p"], 0.5))
    responsive = responsive_electrodes(scores, list(models), min_bins=2)
    sites = classify(responsive, wins(significant_bins(one_bin, scores, responsive, 0.05), 2), models, found)
    assert not sites["multimodal"].any()
