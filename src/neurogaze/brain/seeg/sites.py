"""The paper's comparisons, Benjamini-Hochberg FDR, site classes and region counts.

A comparison "A > B" tests, per electrode and time bin, the bootstrap p of A's test r above B's.
Within each comparison and alignment, only electrodes that respond (some trained model's
validation lower confidence bound above 0 on at least ``min_bins`` bins) enter the FDR
correction (q over all their bins, all subjects); A wins at an electrode when at least
``min_bins`` bins are significant with A's own validation bound above 0.

An electrode is a multimodal site under an alignment when a multimodal model beats its random
version, every vision model, every language model and the linear combination there; a
multimodal site is one under either alignment, a strict one under both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from neurogaze.brain.seeg.models import LINEAR_COMBINATION, RANDOM_SUFFIX, SeegModel

PAPER_MULTIMODAL = (141, 1090)  # multimodal sites / electrodes, Subramaniam et al. 2024
CATEGORIES = ("multimodal", "vision", "language", "vision and language", "responsive", "not responsive")


@dataclass(frozen=True)
class Comparison:
    name: str
    better: str
    worse: str
    kind: str


def comparisons(models: dict[str, SeegModel], controlled_pair: dict | None) -> list[Comparison]:
    found = [Comparison(f"{name} > random", name, name + RANDOM_SUFFIX, "trained > random")
             for name, model in models.items() if model.random]
    for name, model in models.items():
        if model.family != "multimodal":
            continue
        for other, other_model in models.items():
            if other_model.family in ("vision", "language"):
                found.append(Comparison(f"{name} > {other}", name, other, f"multimodal > {other_model.family}"))
        found.append(Comparison(f"{name} > {LINEAR_COMBINATION}", name, LINEAR_COMBINATION,
                                "multimodal > linear combination"))
    if controlled_pair:
        better, worse = controlled_pair["multimodal"], controlled_pair["vision"]
        found.append(Comparison(f"controlled pair: {better} > {worse}", better, worse, "controlled pair"))
    return found


def responsive_electrodes(scores: pd.DataFrame, trained: list[str], min_bins: int) -> pd.DataFrame:
    """(subject, alignment, electrode, responsive)."""
    positive = scores.loc[scores["model"].isin(trained)].assign(positive=lambda t: t["val_lcb"] > 0)
    bins = positive.groupby(["subject", "alignment", "electrode", "model"])["positive"].sum()
    best = bins.groupby(["subject", "alignment", "electrode"]).max()
    return (best >= min_bins).rename("responsive").reset_index()


def significant_bins(pvalues: pd.DataFrame, scores: pd.DataFrame, responsive: pd.DataFrame, q: float) -> pd.DataFrame:
    """p-values of the responsive electrodes with BH q (per comparison and alignment) and whether
    the bin counts as a win (q below the level and the better model's validation bound above 0)."""
    keys = ["subject", "alignment", "electrode"]
    table = pvalues.merge(responsive.loc[responsive["responsive"], keys], on=keys)
    bound = scores.rename(columns={"model": "better"})[keys + ["better", "window_start", "val_lcb"]]
    table = table.merge(bound, on=keys + ["better", "window_start"], how="left")
    table["q"] = table.groupby(["comparison", "alignment"])["p"].transform(
        lambda p: false_discovery_control(p.to_numpy(), method="bh"))
    table["win"] = (table["q"] < q) & (table["val_lcb"] > 0)
    return table


def wins(significant: pd.DataFrame, min_bins: int) -> pd.DataFrame:
    """(subject, alignment, electrode) x comparison: whether the better model wins there."""
    counts = significant.groupby(["subject", "alignment", "electrode", "comparison"])["win"].sum()
    return (counts >= min_bins).unstack("comparison", fill_value=False)


def classify(responsive: pd.DataFrame, won: pd.DataFrame, models: dict[str, SeegModel],
             found: list[Comparison]) -> pd.DataFrame:
    """One row per (subject, electrode): responsive, multimodal under each alignment, multimodal,
    multimodal_strict, the category and, per comparison, ``wins: <comparison>`` (under either
    alignment)."""
    keys = ["subject", "alignment", "electrode"]
    table = responsive.set_index(keys).join(won, how="left")
    names = [c.name for c in found]
    table[names] = table.reindex(columns=names).fillna(False).astype(bool)
    multimodal = np.zeros(len(table), dtype=bool)
    for name, model in models.items():
        if model.family != "multimodal":
            continue
        needed = [c.name for c in found if c.better == name and c.kind != "controlled pair"]
        multimodal |= table[needed].all(axis=1).to_numpy()
    table["multimodal"] = multimodal & table["responsive"].to_numpy()
    table["vision_driven"] = _driven(table, models, "vision")
    table["language_driven"] = _driven(table, models, "language")
    per_alignment = table.reset_index()
    site = per_alignment.groupby(["subject", "electrode"]).agg(
        responsive=("responsive", "any"), multimodal=("multimodal", "any"), multimodal_strict=("multimodal", "all"),
        vision_driven=("vision_driven", "any"), language_driven=("language_driven", "any"),
        **{f"wins: {name}": (name, "any") for name in names})
    for alignment, group in per_alignment.groupby("alignment"):
        site[f"multimodal_{alignment}"] = group.set_index(["subject", "electrode"])["multimodal"]
    site["category"] = [_category(row) for row in site.itertuples()]
    return site.reset_index()


def _driven(table: pd.DataFrame, models: dict[str, SeegModel], family: str) -> np.ndarray:
    columns = [f"{name} > random" for name, model in models.items() if model.family == family and model.random]
    columns = [column for column in columns if column in table]
    if not columns:
        return np.zeros(len(table), dtype=bool)
    return table[columns].any(axis=1).to_numpy() & table["responsive"].to_numpy()


def _category(row) -> str:
    if row.multimodal:
        return "multimodal"
    if row.vision_driven and row.language_driven:
        return "vision and language"
    if row.vision_driven:
        return "vision"
    if row.language_driven:
        return "language"
    return "responsive" if row.responsive else "not responsive"


def best_models(scores: pd.DataFrame) -> pd.DataFrame:
    """Each electrode's peak test r per model (max over bins, mean over alignments)."""
    peak = scores.groupby(["subject", "electrode", "model", "alignment"])["test_r"].max()
    return peak.groupby(["subject", "electrode", "model"]).mean().unstack("model")


def region_counts(sites: pd.DataFrame) -> pd.DataFrame:
    counts = sites.groupby("region").agg(
        electrodes=("electrode", "size"), responsive=("responsive", "sum"), multimodal=("multimodal", "sum"),
        multimodal_strict=("multimodal_strict", "sum"))
    total = counts.sum().to_frame("all").T
    counts = pd.concat([counts, total])
    counts["multimodal_share"] = counts["multimodal"] / counts["electrodes"]
    return counts.rename_axis("region").reset_index()
