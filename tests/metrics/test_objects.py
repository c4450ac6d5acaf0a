import numpy as np
import pandas as pd
import pytest
from matplotlib.path import Path as PolygonPath

from neurogaze.errors import DataValidationError
from neurogaze.metrics.objects import distinct_positions, fixations_in_boxes, inside_boxes


def _scanpaths(points: dict[tuple[str, str], list[tuple[float, float]]]) -> pd.DataFrame:
    rows = [{"stim_id": stim, "subject": subject, "trial": 0, "fix_index": k, "x": x, "y": y}
            for (stim, subject), path in points.items() for k, (x, y) in enumerate(path)]
    return pd.DataFrame(rows)


def test_inside_boxes_agrees_with_matplotlib_polygons():
    rng = np.random.default_rng(0)
    boxes = [[10.0, 20.0, 30.0, 15.0], [50.0, 5.0, 8.0, 40.0]]
    x, y = rng.uniform(0, 70, 5000), rng.uniform(0, 60, 5000)
    expected = np.zeros(len(x), bool)
    for left, top, width, height in boxes:
        square = PolygonPath([(left, top), (left + width, top), (left + width, top + height), (left, top + height)])
        expected |= square.contains_points(np.column_stack([x, y]))
    assert np.array_equal(inside_boxes(x, y, boxes), expected)


def test_share_inside_boxes_per_scanpath():
    table = _scanpaths({("a", "s1"): [(5, 5), (15, 15), (1, 30)], ("a", "s2"): [(30, 30)], ("b", "s1"): [(2, 2)]})
    shares = fixations_in_boxes(table, {"a": [[0, 0, 10, 10], [10, 10, 10, 10]], "b": []})
    assert shares.loc[("a", "s1", 0)] == pytest.approx(2 / 3)
    assert shares.loc[("a", "s2", 0)] == 0.0 and shares.loc[("b", "s1", 0)] == 0.0


def test_images_without_boxes_are_named():
    table = _scanpaths({("a", "s1"): [(5, 5)], ("c", "s1"): [(5, 5)]})
    with pytest.raises(DataValidationError, match="boxes"):
        fixations_in_boxes(table, {"a": []})


def test_distinct_positions_counts_returns_once():
    table = _scanpaths({("a", "m"): [(0, 0), (0.5, 0), (10, 0), (0, 0), (10, 0.2), (20, 20)],
                        ("b", "m"): [(3, 3)] * 4})
    counts = distinct_positions(table, tolerance_px=1.0)
    assert counts.loc[("a", "m", 0)] == 3 and counts.loc[("b", "m", 0)] == 1
