"""NevaClip (Zanca et al. 2023): zero-shot scanpaths from CLIP and a differentiable fovea.

``foveation``: the foveated image (sharp fovea and memory, blurred periphery); ``search``: the
sign-gradient search of each fixation and the fixation tables; ``stages``: the rule
``nevaclip_scanpaths``. Import the submodules directly; this package imports nothing itself.
"""
