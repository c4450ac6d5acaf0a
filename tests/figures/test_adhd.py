"""ADHD figures: values land on the right voxels, every plot renders, and the plot stage writes them all."""

import h5py
import numpy as np
import pandas as pd
import pytest

from neurogaze.data.contracts import write_metrics
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
    predictions = pd.DataFrame({"split": ["test"] * 6 + ["cv"] * 6, "label": [0, 1] * 6,
                                "score": rng.standard_normal(12)})
    assert figures.plot_roc(predictions).axes[0].lines
    metrics = pd.DataFrame(
        [("cohort", "test", "accuracy", 0.8), ("cohort", "cv", "accuracy", 0.75), ("fold0", "cv", "accuracy", 0.7),
         ("fold1", "cv", "accuracy", 0.8), ("cohort", "permutation", "permuted_accuracy_mean", 0.5)],
        columns=["unit", "split", "metric", "value"],
    )
    axis = figures.plot_accuracy_vs_paper(metrics).axes[0]
    heights = [patch.get_height() for patch in axis.patches]
    np.testing.assert_allclose(heights, [80.0, 75.0, 50.0, 69.59])


def test_plot_stage_writes_the_four_figures(tmp_path):
    mask, affine = _mask()
    n_voxels = int(mask.sum())
    rng = np.random.default_rng(1)
    with h5py.File(tmp_path / "maps.h5", "w") as handle:
        handle["brain_mask"], handle["affine"] = mask, affine
        handle["group_t"] = rng.standard_normal((2, n_voxels)) * 3
        handle["mask_frequency"] = rng.random(n_voxels)
        handle.attrs["feature_names"] = "degree,triangles"
    pd.DataFrame({"split": ["test"] * 6 + ["cv"] * 6, "label": [0, 1] * 6,
                  "score": rng.standard_normal(12)}).to_csv(tmp_path / "predictions.csv", index=False)
    metrics = pd.DataFrame({"method": "adhd_graphs", "dataset": "toy", "unit": ["cohort", "cohort", "cohort"],
                            "metric": ["accuracy", "accuracy", "permuted_accuracy_mean"],
                            "split": ["test", "cv", "permutation"], "seed": 0, "value": [0.8, 0.7, 0.5]})
    write_metrics(tmp_path / "metrics.csv", metrics)
    outputs = {name: tmp_path / f"{name}.png" for name in ("group_difference", "mask", "roc", "accuracy")}
    figures.plot(metrics=tmp_path / "metrics.csv", predictions=tmp_path / "predictions.csv", maps=tmp_path / "maps.h5",
                 **outputs, dataset="toy")
    for path in outputs.values():
        assert path.read_bytes().startswith(b"\x89PNG")
