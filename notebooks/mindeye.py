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
# # MindEye: retrieval and reconstruction from fMRI
# Reads what `snakemake` wrote under `results/mindeye/` (run from the repository root, or set
# `RESULTS`). Retrieval is top-1 among `retrieval_subset` random test items averaged over draws,
# as in the paper (NSD subject 1: image 93.6 %, brain 90.0 % among 300); the `_shuffled` rows are
# the same with the test fMRI rows permuted, the chance control.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from neurogaze.brain.mindeye.evaluate import PAPER_TOP1
from neurogaze.data.contracts import read_metrics, read_stimulus_set
from neurogaze.figures.mindeye import plot_reconstruction_grid, plot_retrieval_grid, read_retrievals, retrieval_grid

RESULTS = Path(os.environ.get("RESULTS", "results"))
DATASET, SUBJECT = "nsd", "subj01"
run = RESULTS / "mindeye" / DATASET / SUBJECT
stimuli = read_stimulus_set(RESULTS / "data" / "stimuli" / DATASET)

# %%
metrics = read_metrics(run / "metrics.csv")
overall = metrics[metrics["unit"] == "all"].set_index("metric")["value"]
pd.DataFrame({"this run": overall, "paper": pd.Series(PAPER_TOP1)}).dropna(subset=["this run"])

# %% [markdown]
# Reconstruction metrics per test image (PixCorr, SSIM, two-way identification with each
# configured network); the `all` rows above are their means.

# %%
per_image = metrics[metrics["unit"] != "all"].pivot_table(index="unit", columns="metric", values="value")
per_image.describe().loc[["mean", "std", "min", "max"]]

# %% [markdown]
# Each test item's nearest images (cosine of the brain's projected tokens against the images'
# tokens); hits are framed.

# %%
retrievals = read_retrievals(run / "retrievals.csv")
shown, retrieved_ids, correct = retrieval_grid(retrievals, n_images=6)
seen = np.stack([image for _, image in stimuli.iter_images(shown)])
retrieved = np.stack([image for _, image in stimuli.iter_images(retrieved_ids.ravel().tolist())])
figure = plot_retrieval_grid(seen, retrieved.reshape(*retrieved_ids.shape, *seen.shape[1:]), correct)
plt.show()

# %% [markdown]
# Seen image, low-level reconstruction (the img2img start) and final reconstruction. On the demo
# the variation pipeline is tiny and untrained, so reconstructions are textures; with Versatile
# Diffusion weights (config/paper.yaml) they are images.

# %%
final = read_stimulus_set(run / "reconstructions" / "final")
ids = final.stim_ids[:6]
low_dir = run / "reconstructions" / "low_level"
low = np.stack([image for _, image in read_stimulus_set(low_dir).iter_images(ids)]) if low_dir.exists() else None
figure = plot_reconstruction_grid(
    np.stack([image for _, image in stimuli.iter_images(ids)]),
    np.stack([image for _, image in final.iter_images(ids)]),
    low,
)
plt.show()
