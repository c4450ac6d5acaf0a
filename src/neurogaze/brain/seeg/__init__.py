"""SEEG vision-language integration (Subramaniam et al., ICML 2024): the electrodes where a
multimodal network's features predict movie-evoked SEEG better than unimodal ones, their linear
combination and the networks' untrained versions.

``events``: frame-sentence pairs of word onsets and scene cuts; ``features``: each model's design
matrix; ``regression``: cross-validated ridge and the vectorised bootstrap; ``sites``: the
comparisons, FDR, site classes and region counts; ``stages``: the rules' functions.
"""
