# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # BrainDiVE: images the encoder predicts each ROI prefers
# Reads what `snakemake` wrote under `results/braindive/` (run from the repository root, or set
# `RESULTS`). On the demo, the NSD-like set's `ground_truth.json` says which ROIs were planted as
# selective to a pixel attribute (warmth, vertical energy, spatial frequency).

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from neurogaze.brain.braindive.guidance import read_synthesis
from neurogaze.data.contracts import read_metrics
from neurogaze.figures.braindive import activation_long_table, plot_activation_comparison, plot_top_images

RESULTS = Path(os.environ.get("RESULTS", "results"))
DATASET, SUBJECT = "nsd", "subj01"
run = RESULTS / "braindive" / DATASET / SUBJECT

# %%
metrics = read_metrics(run / "metrics.csv")
wide = metrics.pivot_table(index="metric", columns="unit", values="value")
wide.loc[["pred_guided_mean", "pred_unguided_mean", "pred_dataset_top_mean", "gain_sd_units", "indep_change_sd_units"]]

# %% [markdown]
# The planted attributes on the pixels: guided minus unguided images from the same seeds, in
# absolute units and in unguided SDs, with a one-sided paired Wilcoxon test. `readout_r` says how
# well the guiding encoder reads the attribute on the dataset's images: guidance can only move
# what the encoder represents.

# %%
attributes = metrics[metrics["metric"].str.startswith("attr_")]
attributes.pivot_table(index="unit", columns="metric", values="value").T.dropna(how="all")

# %%
index, images = read_synthesis(run / "images")
figure = plot_top_images(index, images, n_per_roi=6)
plt.show()

# %%
top = pd.read_csv(run / "dataset_top.csv")
dataset_top = {roi: rows["predicted"].to_numpy() for roi, rows in top.groupby("roi")}
figure = plot_activation_comparison(activation_long_table(index, dataset_top))
plt.show()
