"""Synthetic generators that write the real on-disk layouts plus a ``ground_truth.json``.

``images`` holds the shared stimulus images (scikit-image photographs, controlled attributes,
lfw faces) and the attribute measures the synthetic brains respond to.
"""
