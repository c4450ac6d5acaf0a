"""The one plotting style every neurogaze figure uses, and the atomic figure writer."""

from __future__ import annotations

import os
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")  # pipeline jobs and CI have no display

import matplotlib.pyplot as plt  # noqa: E402

from neurogaze.io import atomic_path  # noqa: E402

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "image.cmap": "viridis",
    "svg.hashsalt": "neurogaze",  # stable ids inside vector outputs
    "pdf.compression": 6,
}
# Okabe-Ito: distinguishable for colour-blind readers; methods keep their colour across figures.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]


@contextmanager
def neurogaze_style():
    with plt.rc_context({**STYLE, "axes.prop_cycle": matplotlib.cycler(color=PALETTE)}):
        yield


def save_figure(figure, path: str | os.PathLike) -> None:
    """Write a figure atomically (PNG or PDF by suffix), with no timestamp so reruns match."""
    suffix = os.path.splitext(str(path))[1].lstrip(".") or "png"
    metadata = {"Software": "neurogaze"} if suffix == "png" else {"Creator": "neurogaze", "CreationDate": None}
    with atomic_path(path) as temp:
        # bbox and dpi explicitly: figures are often saved outside the style context
        figure.savefig(temp, format=suffix, metadata=metadata, dpi=STYLE["savefig.dpi"], bbox_inches="tight")
    plt.close(figure)
