"""Human-attention models (OAT, NevaClip, DiffEye, eccNet) and the gaze baselines.

Import submodules directly, e.g. ``from neurogaze.gaze import baselines``; the package imports
nothing itself so that torch-free code stays torch-free.
"""
