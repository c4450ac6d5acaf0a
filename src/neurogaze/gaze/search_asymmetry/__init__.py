"""The search-asymmetry model: eccNET (Gupta, Zhang, Wu, Wolfe & Kreiman, NeurIPS 2021) on the six
classic search-asymmetry experiments, and on the Kreiman object arrays.

- :mod:`.eccnet`: the model (eccentricity-dependent pooling, top-down attention, the search loop),
  its released VGG16 weights or a trunk trained here;
- :mod:`.stimuli`: the procedural displays of the six experiments;
- :mod:`.experiments`: running them, RT slopes, the asymmetry index, the human reference and the
  object-array (Kreiman) comparison;
- :mod:`.stages`: one function per rule (``backbone``, ``experiments``); the figures are
  :mod:`neurogaze.figures.search_asymmetry`.

Import submodules directly; the package imports nothing itself (torch stays out of parse time).
"""
