import pytest

from neurogaze.data.coco import load_coco
from neurogaze.data.synthetic.world import WorldConfig, generate_world

# A small demo world: enough one-object test scenes for zero-shot accuracies with a few-% SE.
SMALL_WORLD = WorldConfig(n_train=480, n_test=160, seed=3)

# The demo's world architecture (config/config.yaml backbones.world-clip), trained briefly.
WORLD_ARCHITECTURE = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 3, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 3},
}


def world_spec(name: str, train: dict | None, seed: int = 0) -> dict:
    return {"name": name, "kind": "open_clip", "model": "test-world-clip", "architecture": WORLD_ARCHITECTURE,
            "seed": seed, "train": train}


@pytest.fixture(scope="session")
def small_world(tmp_path_factory):
    """(world folder, stimulus set, captions.parquet, objects.parquet) of a small demo world."""
    base = tmp_path_factory.mktemp("small-world")
    generate_world(base / "world", SMALL_WORLD)
    paths = {"stimuli": base / "stimuli", "captions": base / "captions.parquet", "objects": base / "objects.parquet"}
    load_coco(root=base / "world", settings={"splits": {"train": "train2017", "test": "val2017"}}, **paths)
    return {"world": base / "world", **paths}
