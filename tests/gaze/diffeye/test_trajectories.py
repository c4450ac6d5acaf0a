"""DiffEye trajectories: cutting raw samples, the named bad inputs, the image split, OSIE rendering."""

import numpy as np
import pandas as pd
import pytest

from neurogaze.data.gaze.detection import DetectorConfig, ScreenGeometry
from neurogaze.errors import DataValidationError
from neurogaze.gaze.diffeye import trajectories as tr
from neurogaze.gaze.diffeye.diffusion import trajectory_scanpath

SIZE = (400, 300)


def recording(subject, trial, n, rate_hz=240.0, stim_id="a", blink=()):
    t = np.arange(n) * 1000.0 / rate_hz
    x = np.linspace(10, 390, n)
    y = np.full(n, 150.0)
    x[list(blink)] = np.nan
    return pd.DataFrame({"subject": subject, "trial": trial, "stim_id": stim_id, "t_ms": t, "x": x, "y": y})


def test_cut_removes_blinks_normalises_and_drops_short_recordings():
    samples = pd.concat([recording("s1", 1, 60, blink=range(5, 15)), recording("s1", 2, 30),
                         recording("s2", 1, 45)])
    out = tr.cut_trajectories(samples, {"a": SIZE}, length=40, rate_hz=240.0)
    assert list(zip(out.meta["subject"], out.meta["trial"])) == [("s1", 1), ("s2", 1)]
    assert out.xy.shape == (2, 40, 2)
    assert np.isfinite(out.xy).all()
    # the blink's samples are gone: sample 5 of the cut is raw sample 15
    np.testing.assert_allclose(out.xy[0, 5, 0], np.linspace(10, 390, 60)[15] / 400)
    np.testing.assert_allclose(out.xy[:, :, 1], 0.5)


def test_cut_resamples_other_rates_to_the_model_rate():
    out = tr.cut_trajectories(recording("s1", 1, 100, rate_hz=500.0), {"a": SIZE}, length=40, rate_hz=250.0)
    step = np.diff(out.xy[0, :, 0])
    np.testing.assert_allclose(step, 2 * (380 / 99) / 400)  # every other 500 Hz sample


def test_cut_names_recordings_that_are_all_too_short():
    with pytest.raises(DataValidationError, match="at least L = 40") as error:
        tr.cut_trajectories(recording("s1", 1, 30), {"a": SIZE}, length=40, rate_hz=240.0)
    assert error.value.field == "samples"


@pytest.mark.parametrize(("change", "expected"), [
    (lambda xy: xy[:, :10], "at least L = 16"),
    (lambda xy: np.where(np.arange(16)[None, :, None] == 3, np.nan, xy), "no NaN"),
    (lambda xy: xy + 0.8, "on the image"),
])
def test_check_trajectories_names_bad_input(change, expected):
    xy = np.random.default_rng(0).uniform(0.1, 0.5, (3, 16, 2))
    assert tr.check_trajectories(xy, 16).shape == (3, 16, 2)
    with pytest.raises(DataValidationError, match=expected):
        tr.check_trajectories(change(xy), 16, "file.parquet")


def test_split_by_image_is_seeded_and_disjoint():
    images = [f"im{i}" for i in range(20)]
    split = tr.split_by_image(images * 2, 0.1, seed=3)
    assert len(split["test"]) == 2 and not set(split["test"]) & set(split["train"])
    assert sorted(split["train"] + split["test"]) == sorted(images)
    assert split == tr.split_by_image(images, 0.1, seed=3)
    assert split != tr.split_by_image(images, 0.1, seed=4)


def test_rendered_scanpath_gives_back_its_fixations_through_the_detector():
    fixations = np.array([[100.0, 100.0, 300.0], [300.0, 200.0, 400.0], [150.0, 250.0, 500.0]])
    geometry = ScreenGeometry((400, 300), (0.4, 0.3), 0.6)
    xy = tr.render_scanpath(fixations, SIZE, 360, 240.0, geometry.degrees_per_pixel(), np.random.default_rng(0))
    assert xy.shape == (360, 2)
    found = trajectory_scanpath(xy, SIZE, 240.0, geometry, DetectorConfig(method="ivt"))
    assert len(found) == 3
    np.testing.assert_allclose(found[:, :2], fixations[:, :2], atol=3.0)
    # durations: each fixation's own samples, the last one held to the end of the 1.5 s
    assert abs(found[0, 2] - 300) < 40 and abs(found[1, 2] - 400) < 40
