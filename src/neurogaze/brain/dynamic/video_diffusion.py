"""The paper's video-model baseline: Stable Video Diffusion's own motion (Yeung et al. 2024).

Image-to-video with diffusers' ``StableVideoDiffusionPipeline`` from the first frame of each test
clip, the flow of the generated frames by the video set's own flow method (Farneback or RAFT,
:class:`neurogaze.data.video.FlowEstimator`), reduced to the flow target's grid exactly like the
true flow, and per clip the best (lowest-EPE) of ``n_samples`` generations (paper: best of 10).

The released pipeline is read from a local folder (``from_pretrained``; nothing is downloaded).
The demo builds a tiny pipeline from configs (spatio-temporal UNet, temporal-decoder VAE, CLIP
vision encoder with projection, Euler scheduler) with a fixed seed: its "motion" is that of a
random video model, a stand-in that runs the same code path, not a result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import (
    AutoencoderKLTemporalDecoder,
    EulerDiscreteScheduler,
    StableVideoDiffusionPipeline,
    UNetSpatioTemporalConditionModel,
)
from PIL import Image
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

from neurogaze.backbones.hf import seeded
from neurogaze.brain.dynamic.evaluate import end_point_error
from neurogaze.brain.dynamic.flow import clip_flow_target
from neurogaze.errors import DataValidationError, MissingWeightsError


@dataclass
class VideoDiffusionConfig:
    n_samples: int = 10  # generations per clip; the best (lowest EPE) counts (paper: best of 10)
    num_frames: int = 14  # SVD-img2vid: 14 frames
    height: int = 576
    width: int = 1024
    num_inference_steps: int = 25
    fps: int = 7
    motion_bucket_id: int = 127
    noise_aug_strength: float = 0.02
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 3.0
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def load_video_diffusion(folder) -> StableVideoDiffusionPipeline:
    """A Stable Video Diffusion image-to-video pipeline from a local diffusers folder."""
    if not Path(folder).is_dir():
        raise MissingWeightsError(f"video diffusion folder {folder} does not exist (nothing is downloaded: put a "
                                  f"stable-video-diffusion-img2vid pipeline there)")
    return StableVideoDiffusionPipeline.from_pretrained(folder)


def tiny_video_diffusion(seed: int = 0, sample_size: int = 32) -> StableVideoDiffusionPipeline:
    """A seeded StableVideoDiffusionPipeline built from configs, the demo's and the tests' stand-in
    for the released folder; widths are diffusers' minimum (32 groups per norm), the CLIP encoder
    takes 224 px (the pipeline resizes to it). ``sample_size``: the frames' side in pixels."""

    def build() -> StableVideoDiffusionPipeline:
        unet = UNetSpatioTemporalConditionModel(
            sample_size=sample_size // 2, in_channels=8, out_channels=4, block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
            cross_attention_dim=16, num_attention_heads=(2, 2), layers_per_block=1,
            addition_time_embed_dim=4, projection_class_embeddings_input_dim=12)
        vae = AutoencoderKLTemporalDecoder(block_out_channels=(32, 32), down_block_types=("DownEncoderBlock2D",) * 2,
                                           latent_channels=4, layers_per_block=1, sample_size=sample_size)
        encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=16, projection_dim=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
            image_size=224, patch_size=32))  # the pipeline resizes to 224 before the encoder
        processor = CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224})
        scheduler = EulerDiscreteScheduler(prediction_type="v_prediction", timestep_spacing="leading",
                                           use_karras_sigmas=True, steps_offset=1)
        return StableVideoDiffusionPipeline(vae=vae, image_encoder=encoder, unet=unet, scheduler=scheduler,
                                            feature_extractor=processor)

    return seeded(build, seed)


def generate(pipeline: StableVideoDiffusionPipeline, image: np.ndarray, config: VideoDiffusionConfig,
             sample: int) -> np.ndarray:
    """uint8 (num_frames, H, W, 3): one image-to-video generation from ``image`` (H, W, 3),
    resized back to the image's size; sample ``sample`` draws from its own seeded generator."""
    device = pipeline.device
    generator = torch.Generator(device=device).manual_seed(config.seed + sample)
    frames = pipeline(Image.fromarray(image), height=config.height, width=config.width,
                      num_frames=config.num_frames, num_inference_steps=config.num_inference_steps,
                      fps=config.fps, motion_bucket_id=config.motion_bucket_id,
                      noise_aug_strength=config.noise_aug_strength, min_guidance_scale=config.min_guidance_scale,
                      max_guidance_scale=config.max_guidance_scale, decode_chunk_size=config.num_frames,
                      generator=generator, output_type="np").frames[0]
    video = np.clip(np.round(np.asarray(frames) * 255), 0, 255).astype(np.uint8)
    if video.shape[1:3] != image.shape[:2]:
        video = np.stack([np.asarray(Image.fromarray(f).resize(image.shape[1::-1], Image.BILINEAR)) for f in video])
    return video


def best_of_samples(pipeline: StableVideoDiffusionPipeline, image: np.ndarray, true_flow: np.ndarray,
                    flow_of, config: VideoDiffusionConfig) -> tuple[np.ndarray, np.ndarray]:
    """The flow target (grid, grid, 2) of the generation closest to ``true_flow`` in EPE, and every
    sample's EPE. ``flow_of``: frames -> dense flow (the video set's flow method)."""
    if config.num_frames < 2:
        raise DataValidationError(None, "num_frames", "at least 2 generated frames for a flow", config.num_frames)
    grid = true_flow.shape[0]
    flows = np.stack([clip_flow_target(flow_of(generate(pipeline, image, config, sample)), grid)
                      for sample in range(config.n_samples)])
    errors = end_point_error(flows, np.broadcast_to(true_flow, flows.shape))
    return flows[errors.argmin()], errors
