"""MindEye (Scotti et al., NeurIPS 2023): fMRI -> CLIP image tokens, for retrieval and reconstruction.

- :mod:`.model`: the config, the brain network in the released key layout, its token targets,
  inference and released-weight loading;
- :mod:`.prior`: the diffusion prior (brain tokens -> CLIP image tokens);
- :mod:`.train`: losses, optimiser, checkpoints and the resumable training loop;
- :mod:`.low_level`: the voxel -> VAE-latent path (the img2img start of reconstruction);
- :mod:`.reconstruct`: the image-variation pipeline and best-of-N reconstruction;
- :mod:`.evaluate`: retrieval, its shuffled-fMRI control and reconstruction metrics;
- :mod:`.stages`: one function per rule of ``workflow/rules/mindeye.smk``.
"""

from neurogaze.brain.mindeye.model import MindEye, MindEyeConfig, load_released_mindeye

__all__ = ["MindEye", "MindEyeConfig", "load_released_mindeye"]
