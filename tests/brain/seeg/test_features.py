"""Model designs: an image-text model's features express image-text agreement, the linear
combination of unimodal features does not; constant features are a named error. Layers: forward
hooks read a tiny open_clip model's blocks, flattened and projected; bad module names are named."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.random_projection import SparseRandomProjection

from neurogaze.backbones import DEMO_CLIP_ARCHITECTURE
from neurogaze.brain.seeg.features import (
    check_not_constant,
    embed_pairs,
    layer_key,
    layers_of,
    linear_combination_design,
    model_design,
    reduce_dimension,
)
from neurogaze.brain.seeg.models import OUTPUT_LAYER, backbone_layers
from neurogaze.brain.seeg.regression import cross_validate
from neurogaze.errors import ConfigError, DataValidationError

pytestmark = pytest.mark.usefixtures("one_thread")


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


# --- layers -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    """Six frames and five sentences of a tiny movie, paired."""
    root = tmp_path_factory.mktemp("stimuli")
    rng = np.random.default_rng(0)
    for k in range(6):
        Image.fromarray(rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8)).save(root / f"f{k}.png")
    sentences = [f"a red cube number {k}" for k in range(5)]
    pairs = pd.DataFrame({"frame": [f"f{k % 6}.png" for k in range(12)],
                          "sentence": [sentences[k % 5] for k in range(12)]})
    return root, pairs


DEMO = {"name": "demo-clip", "model": "demo-clip", "architecture": DEMO_CLIP_ARCHITECTURE, "seed": 0}
BLOCK = {"block1": {"image": "visual.transformer.resblocks.0", "text": "transformer.resblocks.0"}}


def test_layers_are_read_by_hooks_flattened_and_projected_when_wider(stimuli):
    root, pairs = stimuli
    full = embed_pairs(pairs, root, DEMO, ("image", "text"), layers=BLOCK, batch_size=4)
    # demo-clip: 32 px / 8 px patches + CLS = 17 tokens x width 64; 77 text tokens x 64
    assert full[layer_key("block1", "image")].shape == (6, 17 * 64)
    assert full[layer_key("block1", "text")].shape == (5, 77 * 64)
    assert layers_of(full) == [OUTPUT_LAYER, "block1"]
    projected = embed_pairs(pairs, root, DEMO, ("image", "text"), layers=BLOCK, batch_size=4, target_dim=100)
    # the projection is row by row: projecting the batches equals projecting every row at once
    expected = SparseRandomProjection(100, random_state=0).fit_transform(full[layer_key("block1", "image")])
    np.testing.assert_allclose(projected[layer_key("block1", "image")], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(projected["image"], full["image"])  # the output embedding is not projected


def test_a_model_reads_only_its_towers_of_a_layer(stimuli):
    root, pairs = stimuli
    embedded = embed_pairs(pairs, root, DEMO, ("image", "text"), layers=BLOCK, batch_size=4)
    both = model_design(pairs, ("image", "text"), embedded, "x.npz", "block1")
    image = model_design(pairs, ("image",), embedded, "x.npz", "block1")
    assert both.shape == (12, 17 * 64 + 77 * 64) and image.shape == (12, 17 * 64)
    np.testing.assert_array_equal(both[:, : 17 * 64], image)
    with pytest.raises(DataValidationError, match="block9"):
        model_design(pairs, ("image",), embedded, "x.npz", "block9")


@pytest.mark.parametrize("layers, problem", [
    ({"b": {"image": "visual.transformer.resblocks.7"}}, "no module"),
    ({"b": {"image": "transformer.resblocks.0"}}, "did not"),  # a text-tower module read as the image's
])
def test_a_module_that_does_not_run_in_its_tower_is_named(stimuli, layers, problem):
    root, pairs = stimuli
    with pytest.raises(ConfigError, match=problem):
        embed_pairs(pairs, root, DEMO, ("image",), layers=layers)


def test_layer_labels_are_checked_against_every_model_that_reads_a_backbone():
    settings = {"linear_combination": None, "models": {
        "a": {"backbone": "x", "inputs": ["image"], "family": "vision", "random": "r",
              "layers": {"b1": {"image": "blocks.0"}}},
        "c": {"backbone": "y", "inputs": ["image"], "family": "vision", "random": "r",
              "layers": {"b1": {"image": "blocks.1"}}}}}
    with pytest.raises(ConfigError, match="b1"):
        backbone_layers(settings)
    settings["models"]["c"]["layers"] = {"b1": {"image": "blocks.0"}}
    assert backbone_layers(settings)["r"] == {"b1": {"image": "blocks.0"}}
    settings["models"]["c"]["layers"] = {"output": {"image": "blocks.0"}}
    with pytest.raises(ConfigError, match="output"):
        backbone_layers(settings)
