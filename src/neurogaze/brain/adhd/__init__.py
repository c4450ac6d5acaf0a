"""ADHD network graphs (Dey, Rao & Shah 2012): voxel-wise correlation networks of resting-state
scans, their degree, clustering and 3-cycle maps, and a PCA-LDA classifier of ADHD vs typically
developing controls.

- :mod:`neurogaze.brain.adhd.graphs`: the sparse correlation graphs, built by blocks, and the
  compiled triangle counts;
- :mod:`neurogaze.brain.adhd.classification`: per-subject maps of a cohort, the discriminative
  mask, the PCA-LDA pipeline and its evaluation;
- :mod:`neurogaze.brain.adhd.stages`: the functions the rules ``adhd_maps`` and ``adhd_evaluate``
  call (the figures, rule ``adhd_plot``, are :mod:`neurogaze.figures.adhd`).
"""
