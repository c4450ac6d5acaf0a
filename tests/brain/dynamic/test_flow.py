import numpy as np
import pytest

from neurogaze.brain.dynamic.flow import (
    FlowCodebook,
    check_flow_matches_frames,
    clip_flow_target,
    downsample_flow,
    fmri_windows,
)
from neurogaze.data.video import frames_per_tr
from neurogaze.errors import DataValidationError


def test_downsample_keeps_uniform_flow_in_grid_cells():
    flow = np.broadcast_to(np.array([4.0, -2.0], dtype=np.float32), (3, 32, 64, 2))
    small = downsample_flow(flow, 8)
    assert small.shape == (3, 8, 8, 2)
    np.testing.assert_allclose(small[..., 0], 4.0 * 8 / 64)  # x scales with the width
    np.testing.assert_allclose(small[..., 1], -2.0 * 8 / 32)


def test_named_errors_for_fractional_tr_and_size_mismatch():
    with pytest.raises(DataValidationError, match="whole number of frames"):
        frames_per_tr(fps=15.0, tr=0.7)
    with pytest.raises(DataValidationError, match="frames' size"):
        check_flow_matches_frames(np.zeros((4, 16, 16, 3), np.uint8), np.zeros((3, 8, 8, 2)), "flow.h5", "v")
    assert frames_per_tr(30.0, 2.0) == 60


def test_windows():
    series = np.arange(5, dtype=float)[:, None]
    np.testing.assert_array_equal(fmri_windows(series)[0], [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(fmri_windows(series)[4], [2, 3, 4, 4, 4])


def test_codebook_is_seeded_and_decodes_one_hot_to_centroids():
    rng = np.random.default_rng(0)
    flow = rng.standard_normal((20, 4, 4, 2)).astype(np.float32)
    first, second = FlowCodebook(5, seed=3).fit(flow), FlowCodebook(5, seed=3).fit(flow)
    np.testing.assert_array_equal(first.centroids_, second.centroids_)
    codes = first.encode(flow)
    np.testing.assert_allclose(first.decode(np.eye(5)[codes]), first.centroids_[codes])
    assert FlowCodebook(40).fit(np.zeros((2, 2, 2, 2))).centroids_.shape == (1, 2)  # k capped by distinct vectors


def test_clip_target_is_mean_of_pairs():
    flow = np.stack([np.full((8, 8, 2), 1.0), np.full((8, 8, 2), 3.0)]).astype(np.float32)
    np.testing.assert_allclose(clip_flow_target(flow, 4), 1.0)  # mean 2 px on 8 px = 1 cell on 4
