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
# # Scanpaths: models and baselines against the human ceiling
# Reads the gaze contracts under `results/data/`, the metric tables under `results/gaze/` and the
# predicted scanpaths (`results/gaze/<baseline>/`, `results/<model>/`); set `RESULTS` to change.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from neurogaze.data.contracts import read_fixations, read_metrics, read_stimulus_set
from neurogaze.figures.gaze import plot_gaze_metrics, plot_scanpaths

RESULTS = Path(os.environ.get("RESULTS", "results"))
DATASET = "osie"
humans = read_fixations(RESULTS / "data" / "gaze" / DATASET / "fixations.parquet")
stimuli = read_stimulus_set(RESULTS / "data" / "stimuli" / DATASET)
tables = {path.parent.parent.name: read_metrics(path)
          for path in sorted((RESULTS / "gaze").glob(f"*/{DATASET}/metrics.csv"))}
sorted(tables)

# %% [markdown]
# Dataset means, one row per method (the human ceiling is `human_consistency`).

# %%
means = pd.concat(tables.values()).query("unit == 'dataset_mean'")
means.pivot_table(index="method", columns="metric", values="value").round(3)

# %%
plot_gaze_metrics(list(tables.values()), DATASET)
plt.show()

# %%
predictions = {
    path.parent.parent.name: read_fixations(path)
    for path in sorted([*(RESULTS / "gaze").glob(f"*/{DATASET}/fixations.parquet"),
                        *RESULTS.glob(f"*/{DATASET}/fixations.parquet")])
    if path.parent.parent.name != "data"
}
plot_scanpaths(stimuli, humans, predictions)
plt.show()
