"""Dynamic stimuli (Yeung et al. 2024, CVPR 2025 "Reanimating Images using Neural Representations
of Dynamic Stimuli"): optical flow decoded from fMRI, and images reanimated with it.

- :mod:`.flow`: flow targets (per TR or per clip, on a coarse grid), the k-means codebook, the
  fMRI windows and per-session z-scoring, and the named checks of movie, flow and TR;
- :mod:`.features`: frozen first-frame image features (DINOv2 from a local folder, or tiny);
- :mod:`.decoder`: the config, the flow decoder (fMRI MLP + image features -> 1x1 residual blocks
  -> codebook classes) and the ridge baseline;
- :mod:`.evaluate`: end-point error, its baselines and the permutation test;
- :mod:`.animate`: the warping animator (GIF / MP4);
- :mod:`.stages`: one function per rule of ``workflow/rules/dynamic.smk``.
"""

from neurogaze.brain.dynamic.decoder import FlowDecoder, FlowDecoderConfig, RidgeFlowDecoder

__all__ = ["FlowDecoder", "FlowDecoderConfig", "RidgeFlowDecoder"]
