"""Human attention: the gaze method (baselines, scoring scanpaths against humans, the human
ceiling: ``baselines``, ``stages``), the NevaClip scanpath model (``nevaclip``) and eccNET's
visual search asymmetry (``search_asymmetry``).

Import submodules directly, e.g. ``from neurogaze.gaze import baselines``; the package imports
nothing itself so that torch-free code stays torch-free. It holds the names of the gaze
baselines, which the stage registry and the workflow read at parse time without numpy.
"""

# The gaze baselines the pipeline runs and scores (config `gaze_baselines.kinds`; the schema's
# enum equals this list, and the rule's wildcard and the CLI's choices come from it).
BASELINES = ("centre_bias", "uniform")
