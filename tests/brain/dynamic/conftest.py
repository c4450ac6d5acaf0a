"""Clips with planted motion and motion-selective voxels, built in memory from the synthetic video
generator's own stimuli and tuning (no files), with Farneback flow as the loader computes it."""

import numpy as np
import pytest
import torch

from neurogaze.brain.dynamic.features import ImageFeatureConfig, image_feature_maps, load_image_model
from neurogaze.brain.dynamic.flow import clip_flow_target
from neurogaze.data.synthetic.video import SyntheticVideoConfig, _videos, _voxels, render_clip, voxel_responses
from neurogaze.data.video import farneback_flow

GRID = 8


def planted_clips(n_videos: int = 100, motion_voxels: bool = True, seed: int = 0,
                  kinds: tuple[str, ...] = ("disc", "photo")) -> dict:
    """Moving discs and panned photographs by default: a grating's Farneback flow is unreliable (the
    aperture problem: ~0 for cardinal directions), so with a third of the clips gratings the
    decoder beat the mean flow on them not at all (EPE 0.31-0.35 vs 0.21-0.27, seeds 0-2)."""
    torch.set_num_threads(1)
    fraction = (0.6, 0.2) if motion_voxels else (0.0, 0.0)
    config = SyntheticVideoConfig(n_videos=n_videos, n_frames=6, height=32, width=32, test_every=5, noise_sd=0.3,
                                  fraction_direction=fraction[0], fraction_speed=fraction[1], kinds=kinds, seed=seed)
    rng = np.random.default_rng(seed)
    videos = _videos(config, rng)
    frames, flows = [], []
    for row in videos.itertuples():
        video_rng = np.random.default_rng([seed, 1, int(row.video_id[-3:])])
        clip = render_clip(config, row, video_rng)
        frames.append(clip)
        flows.append(clip_flow_target(farneback_flow(clip), GRID))
    voxels = _voxels(config, np.random.default_rng([seed, 2]), 100)
    responses = voxel_responses(videos, voxels, config) + config.noise_sd * rng.standard_normal((n_videos, 100))
    fmri = ((responses - responses.mean(0)) / responses.std(0)).astype(np.float32)
    image = image_feature_maps(load_image_model(ImageFeatureConfig(image_size=32)), np.stack([f[0] for f in frames]),
                               32)
    return {"fmri": fmri, "image": image, "flow": np.stack(flows), "frames": frames, "videos": videos,
            "voxels": voxels, "test": (videos["split"] == "test").to_numpy()}


@pytest.fixture(scope="session")
def clips():
    return planted_clips()


@pytest.fixture(scope="session")
def noise_clips():
    return planted_clips(motion_voxels=False)
