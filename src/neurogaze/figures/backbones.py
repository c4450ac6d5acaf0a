"""What the demo backbones learned of the demo world: one panel per probe (retrieval, zero-shot
attributes, nearest-neighbour nouns), a bar per backbone and a tick at chance. :func:`plot` is the
stage of rule ``plot_backbones``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurogaze.backbones.evaluation import COLUMNS
from neurogaze.errors import DataValidationError
from neurogaze.figures.style import PALETTE, neurogaze_style, plt, save_figure
from neurogaze.io import write_csv


def read_evaluations(tables: list[str], backbones: list[str]) -> pd.DataFrame:
    frames = []
    for path, backbone in zip(tables, backbones, strict=True):
        frame = pd.read_csv(path)
        missing = [column for column in COLUMNS if column not in frame.columns]
        if missing:
            raise DataValidationError(path, missing[0], f"an evaluation table with columns {list(COLUMNS)}", "missing")
        if set(frame["backbone"]) != {backbone}:
            raise DataValidationError(path, "backbone", f"rows of {backbone!r}", sorted(set(frame["backbone"])))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def plot_evaluations(evaluations: pd.DataFrame):
    probes = list(dict.fromkeys(zip(evaluations["probe"], evaluations["attribute"])))
    backbones = list(dict.fromkeys(evaluations["backbone"]))
    width = 0.8 / len(backbones)
    with neurogaze_style():
        figure, axis = plt.subplots(figsize=(max(6.0, 0.7 * len(probes) * len(backbones) / 2), 3.2))
        for number, backbone in enumerate(backbones):
            rows = evaluations[evaluations["backbone"] == backbone].set_index(["probe", "attribute"])
            values = [rows["accuracy"].get(probe, np.nan) for probe in probes]
            axis.bar(np.arange(len(probes)) + (number - (len(backbones) - 1) / 2) * width, values, width,
                     label=backbone, color=PALETTE[number % len(PALETTE)])
        chance = evaluations.groupby(["probe", "attribute"], sort=False)["chance"].mean()
        axis.scatter(np.arange(len(probes)), [chance[probe] for probe in probes], marker="_", s=400, color="black",
                     zorder=3, label="chance")
        axis.set_xticks(np.arange(len(probes)), [f"{probe}\n{attribute}".replace("_", " ")
                                                 for probe, attribute in probes], fontsize=7)
        axis.set_ylim(0, 1)
        axis.set_ylabel("accuracy (held-out world images)")
        axis.legend(ncols=min(len(backbones) + 1, 5), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 1.18))
    return figure


def plot(*, tables: list[str], table, figure, backbones: list[str]) -> pd.DataFrame:
    """Rule ``plot_backbones``: the backbones' evaluation tables -> one ``table`` and ``figure``."""
    evaluations = read_evaluations(list(tables), backbones)
    write_csv(table, evaluations)
    save_figure(plot_evaluations(evaluations), figure)
    return evaluations
