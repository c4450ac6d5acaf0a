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
# # ADHD network graphs (Dey, Rao & Shah 2012)
# Test, cross-validated and permuted-label scores, and the learned discriminative mask.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from neurogaze.data.contracts import read_metrics
from neurogaze.figures.adhd import plot_accuracy_vs_paper, plot_roc

RESULTS = Path(os.environ.get("RESULTS", "results"))
run = RESULTS / "adhd" / "adhd200"
metrics = read_metrics(run / "metrics.csv")
metrics.query("unit == 'cohort'").pivot_table(index="metric", columns="split", values="value").round(3)

# %%
plot_roc(pd.read_csv(run / "predictions.csv"))
plt.show()

# %%
plot_accuracy_vs_paper(metrics)
plt.show()
