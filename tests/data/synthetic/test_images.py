"""Stimulus images and the attribute measures the synthetic brains respond to."""

from __future__ import annotations

import numpy as np
import pytest

from neurogaze.data.synthetic import images as im
from neurogaze.data.synthetic import world


def test_vertical_energy_separates_orientations():
    stack = np.stack([im.grating(64, 0, 8), im.grating(64, 90, 8), im.grating(64, 45, 8)])
    energy = im.vertical_energy(stack)
    assert energy[0] > 0.99 and energy[1] < 0.01 and energy[2] < 0.05


@pytest.mark.parametrize("cycles", [2, 5, 12])
def test_spatial_frequency_of_a_grating_is_its_cycles_per_image(cycles):
    value = im.spatial_frequency(im.grating(64, 30, cycles)[None])[0]
    assert value == pytest.approx(cycles, rel=0.1)


def test_warmth_of_pure_colours():
    red = np.zeros((1, 8, 8, 3), np.uint8)
    red[..., 0] = 255
    blue = red[..., ::-1].copy()
    assert im.warmth(red)[0] == pytest.approx(1.0)
    assert im.warmth(blue)[0] == pytest.approx(-1.0)
    assert im.warmth(np.full((1, 8, 8, 3), 128, np.uint8))[0] == 0


def test_every_shipped_photo_loads_offline():
    for name in im.PHOTO_NAMES:
        photo = im.load_photo(name)
        assert photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.uint8
        assert max(photo.shape[:2]) <= im.PHOTO_MAX_SIDE


def test_make_stimuli_mixes_kinds_in_proportion_and_is_seeded():
    proportions = {"photo": 0.5, "grating": 0.1, "colour": 0.1, "face": 0.2, "nonface": 0.1}
    first = im.make_stimuli(50, 32, np.random.default_rng(4), proportions)
    again = im.make_stimuli(50, 32, np.random.default_rng(4), proportions)
    kinds = [item.kind for item in first]
    assert kinds.count("face") == 10 and kinds.count("grating") == 5 and len(kinds) == 50
    assert all(item.image.shape == (32, 32, 3) and item.image.dtype == np.uint8 for item in first)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, again, strict=True))
    assert all(item.params["lfw_index"] < im.LFW_N_FACES for item in first if item.kind == "face")
    assert all(item.params["lfw_index"] >= im.LFW_N_FACES for item in first if item.kind == "nonface")
    with pytest.raises(ValueError, match="unknown image kinds"):
        im.make_stimuli(5, 32, np.random.default_rng(0), {"cartoon": 1.0})


def test_image_attributes_reports_faces_from_kinds():
    items = im.make_stimuli(20, 32, np.random.default_rng(1))
    values = im.image_attributes(np.stack([i.image for i in items]), [i.kind for i in items])
    assert set(values) == {"warmth", "vertical_energy", "spatial_frequency", "face"}
    np.testing.assert_array_equal(values["face"], [i.kind == "face" for i in items])


def test_concept_shares_are_the_boxes_of_each_category_and_the_rest_is_place():
    image = np.zeros((20, 20, 3), np.uint8)
    objects = [{"category": "face", "bbox": [0, 0, 10, 10]}, {"category": "food", "bbox": [10, 10, 10, 5]},
               {"category": "face", "bbox": [5, 5, 10, 10]}]  # overlapping faces count once
    shown = [im.StimulusImage(image, "scene", {"objects": objects}), im.StimulusImage(image, "grating", {}),
             im.StimulusImage(image, "face", {})]
    shares = im.concept_shares(shown)
    assert shares["face"].tolist() == [175 / 400, 0.0, 1.0]
    assert shares["food"].tolist() == [50 / 400, 0.0, 0.0] and shares["text"].tolist() == [0.0, 0.0, 0.0]
    assert shares["place"].tolist() == [1 - 200 / 400, 0.0, 0.0]  # food overlaps the second face by 25 px


def test_world_scenes_carry_their_objects_and_their_light():
    rng = np.random.default_rng(3)
    scenes = [im.world_scene(rng, 64, light=0.3) for _ in range(30)]
    assert all(item.kind == "scene" and item.params["objects"] and item.params["captions"] for item in scenes)
    casts = np.asarray([item.params["light"] for item in scenes])
    assert np.abs(casts).max() <= 0.3 and casts.min() < -0.1 and casts.max() > 0.1


def test_the_light_warms_or_cools_the_place_and_leaves_the_objects_alone():
    config = world.WorldConfig(image_size=64)
    for seed in range(20):
        plain, content = world.scene(np.random.default_rng(seed), config)
        warm, same = world.scene(np.random.default_rng(seed), config, light=0.3)
        cool, _ = world.scene(np.random.default_rng(seed), config, light=-0.3)
        assert same == content
        assert im.warmth(cool[None])[0] < im.warmth(plain[None])[0] < im.warmth(warm[None])[0]
        x, y, width, height = content["objects"][0]["bbox"]
        centre = (slice(y + height // 2 - 1, y + height // 2 + 1), slice(x + width // 2 - 1, x + width // 2 + 1))
        np.testing.assert_array_equal(plain[centre], warm[centre])
