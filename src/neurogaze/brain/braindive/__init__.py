"""BrainDiVE (Luo et al., NeurIPS 2023): images a brain region is predicted to respond to most.

* :mod:`.guidance`: the encoder-guided diffusion sampler, the ROI predictors it ascends, the
  synthesis folder it writes and the evaluation rows of its images;
* :mod:`.stages`: one function per rule (``braindive_pipeline``, ``braindive_synthesis``,
  ``braindive_evaluate``); the figures are ``neurogaze.figures.braindive.plot``.
"""
