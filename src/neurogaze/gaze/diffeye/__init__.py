"""DiffEye (Kara, Nisar & Rehg, NeurIPS 2025): a diffusion model of continuous gaze trajectories
conditioned on the image's patch features, with the Corresponding Positional Embedding."""
