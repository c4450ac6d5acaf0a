"""Pretraining of the demo's feature models: VideoMAE's tube masking, that both objectives learn
(the masked-reconstruction loss of held-out clips falls), and that the saved folders open through
the released models' loading path."""

import numpy as np
import pytest
import torch
from transformers import Dinov2Model

from neurogaze.brain.dynamic.features import ImageFeatureConfig, image_feature_maps, load_image_model, model_pixels
from neurogaze.brain.dynamic.pretrain import (
    PretrainConfig,
    pretrain_image_model,
    pretrain_videomae,
    save_pretrained,
    tube_mask,
)
from neurogaze.brain.dynamic.video_encoding import VideoFeatureConfig, load_video_model, video_features
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
