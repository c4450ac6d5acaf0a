"""ADHD figures: values land on the right voxels, and every plot renders from result tables."""

import numpy as np
import pandas as pd
import pytest

from neurogaze.errors import DataValidationError
from neurogaze.figures import adhd as figures


def _mask():
    mask = np.zeros((12, 14, 10), dtype=bool)
    mask[2:10, 3:11, 2:8] = True
    affine = np.array([[4.0, 0, 0, -24], [0, 4.0, 0, -30], [0, 0, 4.0, -20], [0, 0, 0, 1]])
    return mask, affine


def test_map_volume_puts_values_in_mask_order():
    mask, affine = _mask()
    values = np.arange(mask.sum(), dtype=float)
    volume = np.asarray(figures.map_volume(values, mask, affine).dataobj)
    np.testing.assert_array_equal(volume[mask], values)
    assert np.all(volume[~mask] == 0)
    with pytest.raises(DataValidationError, match="values"):
        figures.map_volume(values[:-1], mask, affine)


def test_all_adhd_figures_render():
    mask, affine = _mask()
    rng = np.random.default_rng(0)
    t_map = rng.standard_normal(mask.sum()) * 3
    figure = figures.plot_group_difference(t_map, mask, affine)
    assert figure.axes
    assert figures.plot_learned_mask(rng.random(mask.sum()), mask, affine).axes
    predictions = pd.DataFrame({"split": ["test"] * 6 + ["cv"] * 6, "label": [0, 1] * 6, "score": rng.standard_normal(12)})
    assert figures.plot_roc(predictions).axes[0].lines
    metrics = pd.DataFrame(
        [("cohort", "test", "accuracy", 0.8), ("cohort", "cv", "accuracy", 0.75), ("fold0", "cv", "accuracy", 0.7),
         ("fold1", "cv", "accuracy", 0.8), ("cohort", "permutation", "permuted_accuracy_mean", 0.5)],
        columns=["unit", "split", "metric", "value"],
    )
    axis = figures.plot_accuracy_vs_paper(metrics).axes[0]
    heights = [patch.get_height() for patch in axis.patches]
    np.testing.assert_allclose(heights, [80.0, 75.0, 50.0, 69.59])
