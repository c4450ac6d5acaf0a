"""Metrics: each family is its own module (scanpath, saliency, gaze_evaluation, encoding, ...).

Import the family you need, e.g. ``from neurogaze.metrics import scanpath``; this package imports
nothing itself so that one family's dependencies never load with another's.
"""
