"""The video-vs-image comparison's mechanics on planted linear voxels (half driven by the video
features, half by the image features), and the tiny VideoMAE / DINOv2 readouts' shapes and named
errors.

What is read matters on the synthetic set: a random-weight tiny VideoMAE's first-layer MLP units
(averaged over all tokens) beat its own output tokens on the motion voxels for one of three data
seeds only (clip-bootstrap intervals [0.04, 0.20], [-0.11, 0.04], [-0.04, 0.14] for seeds 0 / 1 /
2 of the planted clips), so no fast test asserts it; the demo pretrains both models on the training
clips first (neurogaze.brain.dynamic.pretrain), and the longrun demo check
(tests/workflow/test_dynamic_workflow.py) asserts video > image features there."""

import numpy as np
import pytest
import torch

from neurogaze.brain.dynamic.features import ImageFeatureConfig, load_image_model
from neurogaze.brain.dynamic.video_encoding import (
    VideoFeatureConfig,
    clip_bootstrap,
    compare_encoders,
    encoder_predictions,
    image_features,
    load_video_model,
    sample_frames,
    video_features,
)
from neurogaze.errors import DataValidationError, MissingWeightsError


def test_each_voxel_prefers_the_features_that_drive_it():
    rng = np.random.default_rng(0)
    n, train = 120, np.arange(120) < 90
    video, image = rng.standard_normal((n, 20)), rng.standard_normal((n, 20))
    responses = np.hstack([video @ rng.standard_normal((20, 10)), image @ rng.standard_normal((20, 10))])
    responses += 2.0 * rng.standard_normal(responses.shape)
    scores = compare_encoders(video, image, responses, train)
    assert (scores["r_difference"][:10] > 0.3).all() and (scores["r_difference"][10:] < -0.3).all()
    np.testing.assert_allclose(scores["r_difference"], scores["r_video"] - scores["r_image"])


def test_clip_bootstrap_separates_planted_voxels_and_covers_zero_for_noise():
    rng = np.random.default_rng(1)
    n, train = 120, np.arange(120) < 90
    video, image = rng.standard_normal((n, 20)), rng.standard_normal((n, 20))
    responses = np.hstack([video @ rng.standard_normal((20, 10)), image @ rng.standard_normal((20, 10)),
                           np.zeros((n, 10))])  # video-driven, image-driven, noise voxels
    responses += 2.0 * rng.standard_normal(responses.shape)
    predicted = encoder_predictions(video, image, responses, train)
    kind = np.repeat(np.arange(3), 10)

    def interval(units):
        draws = clip_bootstrap(responses[~train], predicted["video"], predicted["image"], units, n_boot=300)
        return np.percentile(draws, [2.5, 97.5])

    assert interval(kind == 0)[0] > 0
    assert interval(kind == 1)[1] < 0
    low, high = interval(kind == 2)
    assert low < 0 < high


def test_tiny_videomae_features_and_pooling():
    torch.set_num_threads(1)
    config = VideoFeatureConfig(num_frames=4, image_size=16, pool=2)
    clips = [np.random.default_rng(i).integers(0, 255, (6, 20, 20, 3), dtype=np.uint8) for i in range(3)]
    features = video_features(load_video_model(config), clips, config)
    assert features.shape == (3, 2 * 2 * 2 * 32)  # 2 time slots x 2 x 2 cells x hidden 32
    again = video_features(load_video_model(config), clips, config)
    np.testing.assert_array_equal(features, again)  # seeded model
    mlp = VideoFeatureConfig(num_frames=4, image_size=16, pool=2, layer=0, pool_time=True)
    assert video_features(load_video_model(config), clips, mlp).shape == (3, 2 * 2 * 64)  # 64 MLP units
    image = load_image_model(ImageFeatureConfig(image_size=16))
    frames = np.stack([c[0] for c in clips])
    assert image_features(image, frames, config, 16).shape == (3, 2 * 2 * 16)  # hidden 16
    assert image_features(image, frames, mlp, 16).shape == (3, 2 * 2 * 64)  # Dinov2: mlp_ratio 4 x hidden 16
    with pytest.raises(DataValidationError, match="encoder layer"):
        image_features(image, frames, VideoFeatureConfig(layer=1), 16)


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(DataValidationError, match="at least 8 frames"):
        sample_frames(np.zeros((4, 8, 8, 3), np.uint8), 8, "frames.h5", "clip")
    with pytest.raises(MissingWeightsError):
        load_video_model(VideoFeatureConfig(), tmp_path / "absent")
