"""Model designs: an image-text model's features express image-text agreement, the linear
combination of unimodal features does not; constant features are a named error."""

import numpy as np
import pandas as pd
import pytest

from neurogaze.brain.seeg.features import (
    check_not_constant,
    linear_combination_design,
    model_design,
    reduce_dimension,
)
from neurogaze.brain.seeg.regression import cross_validate
from neurogaze.errors import DataValidationError


def aligned_world(n_pairs=400, n_concepts=8, dim=16, seed=0):
    """Frames and sentences of concepts embedded in one shared space (an aligned image-text
    model): a pair agrees when the sentence names the frame's concept."""
    rng = np.random.default_rng(seed)
    concepts = np.linalg.qr(rng.normal(size=(dim, dim)))[0][:n_concepts]
    frame_concept = rng.integers(n_concepts, size=n_pairs)
    agree = rng.random(n_pairs) < 0.5
    other = (frame_concept + rng.integers(1, n_concepts, n_pairs)) % n_concepts
    sentence_concept = np.where(agree, frame_concept, other)
    pairs = pd.DataFrame({"frame": [f"f{c}" for c in frame_concept], "sentence": [f"s{c}" for c in sentence_concept]})
    embeddings = {"frames": np.array([f"f{c}" for c in range(n_concepts)]), "image": concepts,
                  "sentences": np.array([f"s{c}" for c in range(n_concepts)]), "text": concepts}
    return pairs, embeddings, agree.astype(float)


def test_image_text_features_express_agreement_and_the_concatenation_does_not():
    pairs, embeddings, agree = aligned_world()
    Y = (agree + 0.3 * np.random.default_rng(1).normal(size=len(agree)))[:, None]
    joint = model_design(pairs, ("image", "text"), embeddings, "clip.npz")
    concatenated = linear_combination_design(pairs, embeddings, embeddings, ("v.npz", "l.npz"))
    r_joint = cross_validate(joint, Y).test_r[0]
    r_concatenated = cross_validate(concatenated, Y).test_r[0]
    # agreement explains 1 / (1 + 0.3^2 / 0.25) = 74 % of the variance (r 0.86); the concatenation
    # has no linear access to it: its r has SE ~ 1 / sqrt(40 test events per fold * 5)
    assert r_joint > 0.7
    assert abs(r_concatenated) < 3 / np.sqrt(200)


def test_unimodal_designs_read_one_tower():
    pairs, embeddings, _ = aligned_world(n_pairs=20)
    assert model_design(pairs, ("image",), embeddings, "x").shape == (20, 16)
    assert model_design(pairs, ("text",), embeddings, "x").shape == (20, 16)
    assert model_design(pairs, ("image", "text"), embeddings, "x").shape == (20, 48)


def test_a_pair_without_an_embedding_is_named():
    pairs, embeddings, _ = aligned_world(n_pairs=20)
    pairs.loc[3, "sentence"] = "never embedded"
    with pytest.raises(DataValidationError, match="never embedded"):
        model_design(pairs, ("text",), embeddings, "lang.npz")


def test_constant_features_are_named():
    with pytest.raises(DataValidationError) as error:
        check_not_constant(np.ones((10, 4)), "dead.npz", "dead model")
    assert error.value.path == "dead.npz" and "dead model" in str(error.value)
    check_not_constant(np.eye(4), "fine.npz", "fine")


def test_only_features_wider_than_the_jl_dimension_are_projected():
    design = np.random.default_rng(0).normal(size=(30, 50))
    assert reduce_dimension(design, 0.1) is design  # JL dim of 30 events at eps 0.1 is ~2900
    wide = np.random.default_rng(0).normal(size=(30, 4000))
    reduced = reduce_dimension(wide, 0.5)
    assert reduced.shape[1] < 4000 and np.array_equal(reduced, reduce_dimension(wide, 0.5))
