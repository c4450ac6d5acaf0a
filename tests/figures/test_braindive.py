"""BrainDiVE figures: the top-images grid and the activation comparison, from a written synthesis."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from neurogaze.brain.braindive import guidance
from neurogaze.config import schema_defaults
from neurogaze.errors import DataValidationError
from neurogaze.figures.braindive import (
    TopImagesConfig,
    activation_long_table,
    plot,
    plot_activation_comparison,
    plot_top_images,
)
from neurogaze.figures.style import save_figure

CONFIG = guidance.BrainDiVEConfig(num_inference_steps=2, scheduler="DDIMScheduler", n_images=5, batch_size=5)


def _result(roi: str, seed: int, n: int = 5) -> guidance.SynthesisResult:
    rng = np.random.default_rng(seed)
    unguided = rng.integers(0, 200, size=(n, 8, 8, 3), dtype=np.uint8)
    guided = unguided.copy()
    guided[..., 0] += 40
    return guidance.SynthesisResult(roi=roi, seeds=list(range(n)), guided=guided, unguided=unguided,
                                    guided_score=rng.normal(2.0, 0.1, size=n),
                                    unguided_score=rng.normal(0.0, 0.1, size=n),
                                    selected=guidance.select_top(rng.normal(size=n), 0.4))


@pytest.fixture
def synthesis(tmp_path):
    guidance.write_synthesis(tmp_path / "images", [_result("a", 0), _result("b", 1)], CONFIG)
    return tmp_path / "images"


def test_figures_draw_every_roi(tmp_path, synthesis):
    index, images = guidance.read_synthesis(synthesis)
    grid = plot_top_images(index, images, n_per_roi=3)
    assert len(grid.axes) == 6
    table = activation_long_table(index, {"a": np.array([1.0, 1.1]), "b": np.array([0.5])})
    comparison = plot_activation_comparison(table)
    assert len(comparison.axes) == 2
    save_figure(grid, tmp_path / "grid.png")
    save_figure(comparison, tmp_path / "comparison.png")
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_plot_stage_writes_both_figures(tmp_path, synthesis):
    pd.DataFrame({"roi": ["a", "b"], "stim_id": ["s1", "s2"], "predicted": [1.0, 0.5]}).to_csv(
        tmp_path / "dataset_top.csv", index=False)
    outputs = {"top_images": tmp_path / "top.png", "activation": tmp_path / "activation.png"}
    plot(images=synthesis, dataset_top=tmp_path / "dataset_top.csv", **outputs, settings={"n_per_roi": 2},
         dataset="nsd", subject="subj01")
    assert all(path.stat().st_size > 1000 for path in outputs.values())
    pd.DataFrame({"stim_id": ["s1"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataValidationError, match="bad.csv"):
        plot(images=synthesis, dataset_top=tmp_path / "bad.csv", **outputs, settings={}, dataset="nsd",
             subject="subj01")


def test_config_defaults_are_the_schemas():
    assert schema_defaults("braindive.figure") == dataclasses.asdict(TopImagesConfig())
