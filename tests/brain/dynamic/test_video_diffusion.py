"""The Stable Video Diffusion baseline on a tiny pipeline built from configs: the folder round
trip, the best-of-N choice and the named errors."""

import numpy as np
import pytest
import torch

from neurogaze.brain.dynamic.evaluate import end_point_error
from neurogaze.brain.dynamic.video_diffusion import (
    VideoDiffusionConfig,
    best_of_samples,
    generate,
    load_video_diffusion,
    tiny_video_diffusion,
)
from neurogaze.data.video import farneback_flow
from neurogaze.errors import DataValidationError, MissingWeightsError

CONFIG = VideoDiffusionConfig(n_samples=3, num_frames=3, height=32, width=32, num_inference_steps=1)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("svd")
    tiny_video_diffusion(0).save_pretrained(folder)
    loaded = load_video_diffusion(folder)  # the released pipeline's path
    loaded.set_progress_bar_config(disable=True)
    return loaded


def test_generation_is_seeded_and_sized(pipeline):
    image = np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    video = generate(pipeline, image, CONFIG, sample=0)
    assert video.shape == (3, 24, 24, 3) and video.dtype == np.uint8
    np.testing.assert_array_equal(video, generate(pipeline, image, CONFIG, sample=0))
    assert not np.array_equal(video, generate(pipeline, image, CONFIG, sample=1))


def test_best_of_samples_is_the_lowest_epe(pipeline):
    image = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    true = np.full((4, 4, 2), 0.5, np.float32)
    best, errors = best_of_samples(pipeline, image, true, farneback_flow, CONFIG)
    assert errors.shape == (3,) and best.shape == (4, 4, 2)
    assert end_point_error(best[None], true[None])[0] == pytest.approx(errors.min(), rel=1e-5)


def test_bad_inputs_are_named(pipeline, tmp_path):
    with pytest.raises(MissingWeightsError):
        load_video_diffusion(tmp_path / "absent")
    with pytest.raises(DataValidationError, match="at least 2"):
        best_of_samples(pipeline, np.zeros((32, 32, 3), np.uint8), np.zeros((4, 4, 2), np.float32), farneback_flow,
                        VideoDiffusionConfig(num_frames=1))
