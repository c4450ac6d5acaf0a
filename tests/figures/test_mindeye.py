"""MindEye figures: the retrieval grid's order, both grids render, a bad retrievals table is named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurogaze.config import schema_defaults
from neurogaze.errors import DataValidationError
from neurogaze.figures import mindeye as fm
from neurogaze.figures.style import save_figure


def test_retrieval_grid_keeps_the_table_order_of_test_items():
    # test items listed out of alphabetical order: the retrieved rows must follow the seen ones
    table = pd.DataFrame({
        "stim_id": ["b", "b", "a", "a", "c", "c"], "rank": [2, 1, 1, 2, 1, 2],
        "retrieved": ["a", "b", "c", "a", "c", "b"], "correct": [False, True, False, True, True, False],
    })
    shown, retrieved, correct = fm.retrieval_grid(table, n_images=2)
    assert shown == ["b", "a"]
    assert retrieved.tolist() == [["b", "a"], ["c", "a"]]
    assert correct.tolist() == [[True, False], [False, True]]


def test_figures_render(tmp_path):
    rng = np.random.default_rng(0)
    seen = rng.integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    index = fm.top_k_retrievals(seen.astype(float), seen.astype(float), k=2)
    assert np.array_equal(index[:, 0], np.arange(3))
    save_figure(fm.plot_retrieval_grid(seen, seen[index], index == np.arange(3)[:, None]), tmp_path / "r.png")
    save_figure(fm.plot_reconstruction_grid(seen, seen, low_level=seen), tmp_path / "c.pdf")
    assert (tmp_path / "r.png").stat().st_size > 0 and (tmp_path / "c.pdf").stat().st_size > 0


def test_a_retrievals_table_without_its_columns_is_named(tmp_path):
    pd.DataFrame({"stim_id": ["a"], "rank": [1]}).to_csv(tmp_path / "retrievals.csv", index=False)
    with pytest.raises(DataValidationError, match="retrievals.csv.*correct"):
        fm.read_retrievals(tmp_path / "retrievals.csv")


def test_ids_that_look_like_numbers_stay_text(tmp_path):
    pd.DataFrame({"stim_id": ["0042"], "rank": [1], "retrieved": ["0042"], "correct": [True]}).to_csv(
        tmp_path / "retrievals.csv", index=False)
    assert fm.read_retrievals(tmp_path / "retrievals.csv")["stim_id"].tolist() == ["0042"]


def test_schema_defaults_are_the_config_defaults():
    assert schema_defaults("mindeye.figures") == {"n_images": fm.FiguresConfig().n_images}
