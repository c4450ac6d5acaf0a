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
# # Voxel-wise encoding: accuracy against the noise ceiling
# Reads what `snakemake` wrote under `results/` (run from the repository root, or set
# `RESULTS`). On the demo, the NSD-like set's planted ROIs tell what each voxel should do.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from neurogaze.data.contracts import read_brain_responses, read_metrics
from neurogaze.figures.encoding import metric_volume, plot_accuracy_by_roi, plot_glass_brain

RESULTS = Path(os.environ.get("RESULTS", "results"))
DATASET, SUBJECT = "nsd", "subj01"
run = RESULTS / "encoding" / DATASET / SUBJECT

# %%
metrics = read_metrics(run / "metrics.csv")
responses = read_brain_responses(RESULTS / "data" / "brain" / DATASET / f"{SUBJECT}.h5")
wide = metrics.pivot_table(index="unit", columns="metric", values="value")
wide.describe()

# %% [markdown]
# Median accuracy per ROI (the `feature` ROI follows directions of the demo backbone's embedding,
# so it should come close to its noise ceiling; `unselective` voxels have none).

# %%
pd.read_csv(run / "roi_summary.csv").query("metric == 'r_over_nc'").sort_values("median", ascending=False)

# %%
figure = plot_accuracy_by_roi(metrics, responses.rois)
plt.show()

# %%
r = metrics[metrics["metric"] == "pearson_r"].sort_values("unit", key=lambda u: u.astype(int))["value"].to_numpy()
display = plot_glass_brain(metric_volume(r, responses), f"{DATASET} {SUBJECT}: test r")
plt.show()
