"""The demo world in the COCO captions layout and the COCO loader that reads it (and real COCO)."""

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from neurogaze.data.coco import load_coco
from neurogaze.data.contracts import read_stimulus_set
from neurogaze.data.synthetic.world import OBJECTS, PHRASES, WorldConfig, generate_world
from neurogaze.errors import DataValidationError

SMALL = WorldConfig(n_train=60, n_test=20, seed=3)
SPLITS = {"splits": {"train": "train2017", "test": "val2017"}}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world") / "coco"
    return root, generate_world(root, SMALL)


def _digests(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_the_world_is_byte_identical_on_rerun(world, tmp_path):
    root, _ = world
    generate_world(tmp_path / "again", SMALL)
    assert _digests(tmp_path / "again") == _digests(root)
    other = generate_world(tmp_path / "other", WorldConfig(n_train=60, n_test=20, seed=4))
    first = json.loads((root / "ground_truth.json").read_text())["images"][0]
    assert other["images"][0]["captions"] != first["captions"]


def test_captions_name_every_object_of_their_scene(world):
    _, truth = world
    for image in truth["images"]:
        assert 1 <= len(image["objects"]) <= 2 and len(image["captions"]) == SMALL.captions_per_image
        for caption in image["captions"]:
            assert caption.endswith(".")
        named = " ".join(image["captions"])
        for obj in image["objects"]:
            assert PHRASES.get(obj["noun"], obj["noun"]) in named or obj["category"] in named
            x, y, width, height = obj["bbox"]
            assert 0 <= x and x + width <= SMALL.image_size and 0 <= y and y + height <= SMALL.image_size


def test_two_object_scenes_put_one_object_on_each_side(world):
    _, truth = world
    for image in truth["images"]:
        if len(image["objects"]) == 2:
            left, right = sorted(image["objects"], key=lambda o: o["bbox"][0])
            assert left["position"] == "left" and right["position"] == "right"
            assert left["bbox"][0] + left["bbox"][2] <= SMALL.image_size // 2 <= right["bbox"][0]


def test_the_loader_reads_the_world_as_coco(world, tmp_path):
    root, truth = world
    index = load_coco(root=root, stimuli=tmp_path / "stimuli", captions=tmp_path / "captions.parquet",
                      objects=tmp_path / "objects.parquet", settings=SPLITS)
    stimuli = read_stimulus_set(tmp_path / "stimuli")
    assert len(stimuli) == SMALL.n_train + SMALL.n_test
    assert (stimuli.index["split"] == "test").sum() == SMALL.n_test
    assert stimuli.load_image(stimuli.stim_ids[0]).shape == (SMALL.image_size, SMALL.image_size, 3)
    captions = pd.read_parquet(tmp_path / "captions.parquet")
    objects = pd.read_parquet(tmp_path / "objects.parquet")
    assert len(captions) == sum(len(image["captions"]) for image in truth["images"])
    assert len(objects) == sum(len(image["objects"]) for image in truth["images"])
    assert set(objects["category"]) <= set(OBJECTS)
    first = truth["images"][0]
    assert index.set_index("stim_id").loc[f"{first['id']:012d}", "caption"] == first["captions"][0]


def _break(root, tmp_path, edit, name="captions_train2017.json"):
    broken = tmp_path / "broken"
    shutil.copytree(root, broken)
    path = broken / "annotations" / name
    payload = json.loads(path.read_text())
    edit(payload)
    path.write_text(json.dumps(payload))
    out = tmp_path / "out"
    with pytest.raises(DataValidationError) as info:
        load_coco(root=broken, stimuli=out / "stimuli", captions=out / "captions.parquet",
                  objects=out / "objects.parquet", settings=SPLITS)
    assert not out.exists() or not any(out.rglob("*"))
    return info.value


def test_a_caption_of_an_unknown_image_is_named(world, tmp_path):
    error = _break(world[0], tmp_path, lambda p: p["annotations"][3].update(image_id=99999))
    assert error.path.endswith("captions_train2017.json") and error.field == "annotations[3].image_id"


def test_an_empty_caption_is_named(world, tmp_path):
    error = _break(world[0], tmp_path, lambda p: p["annotations"][0].update(caption="  "))
    assert error.field == "annotations[0].caption"


def test_a_box_of_an_unknown_category_is_named(world, tmp_path):
    error = _break(world[0], tmp_path, lambda p: p["annotations"][0].update(category_id=77),
                   name="instances_train2017.json")
    assert error.path.endswith("instances_train2017.json") and error.field == "annotations[0].category_id"


def test_a_missing_captions_file_is_named(world, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(DataValidationError, match="captions_missing.json"):
        load_coco(root=world[0], stimuli=out / "s", captions=out / "c.parquet", objects=out / "o.parquet",
                  settings={"splits": {"train": "train2017", "test": "missing"}})
    assert not out.exists()


def test_scenes_vary_in_the_pixel_attributes_the_synthetic_brains_read(world):
    """Warmth, vertical energy and spatial frequency vary across scenes (the NSD-like ROIs need it)."""
    from neurogaze.data.synthetic.images import image_attributes

    root, truth = world
    images = np.stack([np.asarray(Image.open(root / "train2017" / image["file_name"]))
                       for image in truth["images"] if image["split"] == "train"])
    values = image_attributes(images)
    for name, spread in (("warmth", 0.03), ("vertical_energy", 0.03), ("spatial_frequency", 0.5)):
        assert np.std(values[name]) > spread, (name, np.std(values[name]))
