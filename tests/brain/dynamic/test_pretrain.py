"""Pretraining of the demo's feature models: VideoMAE's tube masking, that both objectives learn
(the masked-reconstruction loss of held-out clips falls), the motion fine-tuning (its targets and
augmentations against measured flow, that it learns held-out clips' motion), and that the saved
folders open through the released models' loading path."""

import numpy as np
import pytest
import torch
from transformers import Dinov2Model

from neurogaze.brain.dynamic.features import ImageFeatureConfig, image_feature_maps, load_image_model, model_pixels
from neurogaze.brain.dynamic.pretrain import (
    _MOTION_FLIPS,
    MotionFinetuneConfig,
    PretrainConfig,
    finetune_on_motion,
    motion_targets,
    pretrain_image_model,
    pretrain_videomae,
    save_pretrained,
    tube_mask,
)
from neurogaze.brain.dynamic.video_encoding import VideoFeatureConfig, load_video_model, video_features
from neurogaze.data.synthetic.video import SyntheticVideoConfig, moving_photo
from neurogaze.data.video import farneback_flow
from neurogaze.errors import DataValidationError

VIDEO_MODEL = {"patch_size": 8, "tubelet_size": 2, "hidden_size": 16, "num_hidden_layers": 1,
               "num_attention_heads": 2, "intermediate_size": 32, "decoder_hidden_size": 16,
               "decoder_num_hidden_layers": 1, "decoder_num_attention_heads": 2, "decoder_intermediate_size": 32}


def test_tube_mask_hides_the_same_patches_in_every_time_slot():
    mask = tube_mask(5, 3, 16, 0.75, torch.Generator().manual_seed(0))
    assert mask.shape == (5, 48)
    slots = mask.reshape(5, 3, 16)
    assert (slots == slots[:, :1]).all() and (slots.sum(-1) == 12).all()
    assert not (slots[0, 0] == slots[1, 0]).all()  # a new mask per clip
    with pytest.raises(DataValidationError, match="mask_ratio"):
        tube_mask(1, 1, 4, 0.99, torch.Generator())


def _clips(n: int, seed: int) -> list[np.ndarray]:
    """Drifting gratings: one direction per clip."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:16, :16]
    clips = []
    for angle in rng.uniform(0, 2 * np.pi, n):
        along = x * np.cos(angle) + y * np.sin(angle)
        frames = [127 + 100 * np.sin(2 * np.pi * (along - 2 * t) / 16) for t in range(4)]
        clips.append(np.repeat(np.stack(frames)[..., None], 3, -1).astype(np.uint8))
    return clips


def test_videomae_pretraining_learns_and_loads_as_a_released_folder(tmp_path):
    torch.set_num_threads(1)
    config = PretrainConfig(model=VIDEO_MODEL, num_frames=4, image_size=16, mask_ratio=0.5, epochs=100, batch_size=8,
                            learning_rate=1e-2)
    held_out = model_pixels(np.stack(_clips(16, 1)), 16)
    mask = tube_mask(16, 2, 4, 0.5, torch.Generator().manual_seed(5))

    def loss(model) -> float:
        with torch.no_grad():
            return model(pixel_values=held_out, bool_masked_pos=mask).loss.item()

    untrained = pretrain_videomae(_clips(32, 0), PretrainConfig(**{**config.to_dict(), "epochs": 1,
                                                                   "learning_rate": 1e-9}))
    model = pretrain_videomae(_clips(32, 0), config)
    assert loss(model) < 0.9 * loss(untrained)  # normalised targets: predicting nothing scores 1
    save_pretrained(model, tmp_path / "video")
    features = video_features(load_video_model(VideoFeatureConfig(num_frames=4, image_size=16), tmp_path / "video"),
                              _clips(3, 2), VideoFeatureConfig(num_frames=4, image_size=16, pool=1))
    assert features.shape == (3, 2 * 16)


def test_image_pretraining_saves_a_dinov2_folder(tmp_path):
    torch.set_num_threads(1)
    frames = np.concatenate(_clips(4, 0))
    config = PretrainConfig(model={"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                   "intermediate_size": 32, "patch_size": 8}, image_size=16, mask_ratio=0.5, epochs=1)
    save_pretrained(pretrain_image_model(frames, config), tmp_path / "image")
    model = load_image_model(ImageFeatureConfig(model=str(tmp_path / "image"), image_size=16))
    assert isinstance(model, Dinov2Model)
    assert image_feature_maps(model, frames[:2], 16).shape == (2, 16, 2, 2)
    with pytest.raises(DataValidationError, match="at least 2"):
        pretrain_image_model(frames[:1], config)


def test_motion_targets_and_their_augmentations_follow_the_measured_flow():
    """Each augmentation's sign rule is what Farneback measures on the flipped / reversed clip."""
    config = SyntheticVideoConfig(n_frames=8, height=32, width=32)
    speeds = []
    for speed in (1.0, 3.0):  # Farneback at 32 px underestimates the speed, but in order and in direction
        clip = moving_photo(config, direction_deg=30.0, speed=speed, rng=np.random.default_rng(0))
        measured = motion_targets(farneback_flow(clip))
        assert np.degrees(np.arctan2(measured[1], measured[0])) == pytest.approx(30.0, abs=5.0)
        speeds.append(measured[2])
    assert speeds[1] > 1.5 * speeds[0]
    numpy_axis = {-1: 2, -2: 1, 1: 0}  # (B, T, 3, H, W) dims -> (T, H, W, 3) axes
    for dim, signs in _MOTION_FLIPS:
        flipped = motion_targets(farneback_flow(np.ascontiguousarray(np.flip(clip, numpy_axis[dim]))))
        np.testing.assert_allclose(flipped, measured * np.asarray(signs), atol=0.1)


def _drifting(n: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Gratings drifting at 1-3 px per frame in any direction, and their exact flow."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:16, :16]
    clips, flows = [], []
    for angle, speed in zip(rng.uniform(0, 2 * np.pi, n), rng.uniform(1, 3, n)):
        along = x * np.cos(angle) + y * np.sin(angle)
        frames = [127 + 100 * np.sin(2 * np.pi * (along - speed * t) / 8) for t in range(4)]
        clips.append(np.repeat(np.stack(frames)[..., None], 3, -1).astype(np.uint8))
        flows.append(np.broadcast_to(speed * np.array([np.cos(angle), np.sin(angle)]), (3, 16, 16, 2)))
    return clips, flows


def test_motion_finetuning_learns_held_out_motion_and_loads_as_a_released_folder(tmp_path):
    torch.set_num_threads(1)
    clips, flows = _drifting(48, 0)
    pretrained = pretrain_videomae(clips, PretrainConfig(model=VIDEO_MODEL, num_frames=4, image_size=16,
                                                         mask_ratio=0.5, epochs=1))
    model = finetune_on_motion(pretrained, clips, flows, MotionFinetuneConfig(epochs=150, learning_rate=3e-3))
    held_out, truth = _drifting(24, 1)
    with torch.no_grad():
        predicted = model(pixel_values=model_pixels(np.stack(held_out), 16)).logits.numpy()
    targets = np.stack([motion_targets(f) for f in truth])
    for k in range(2):  # dx, dy: the direction of motion the planted voxels are tuned to
        assert np.corrcoef(predicted[:, k], targets[:, k])[0, 1] > 0.8
    save_pretrained(model, tmp_path / "video")
    config = VideoFeatureConfig(num_frames=4, image_size=16, pool=1, pool_time=True)
    loaded = load_video_model(config, tmp_path / "video")
    for name, tensor in model.videomae.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)
    assert video_features(loaded, held_out[:3], config).shape == (3, 16)
    with pytest.raises(DataValidationError, match="one flow per"):
        finetune_on_motion(pretrained, clips, flows[:-1], MotionFinetuneConfig(epochs=1))
