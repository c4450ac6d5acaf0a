import math

import numpy as np
import pandas as pd
import pytest
import torch

from neurogaze.backbones import build_backbone
from neurogaze.backbones.evaluation import evaluate_backbone
from neurogaze.backbones.training import BackboneTraining, nt_xent, train_demo_backbone
from neurogaze.config import schema_defaults
from neurogaze.errors import DataValidationError

from ..stats import above_chance, z_difference
from .conftest import world_spec

# Brief demo training: a few hundred steps of the demo's settings on the small world.
BRIEF = {"epochs": 20, "batch_size": 64, "lr": 0.002, "weight_decay": 0.1, "warmup_steps": 20}


def test_schema_defaults_are_the_dataclass_defaults():
    defaults = BackboneTraining()
    for key, value in schema_defaults("backbones.*.train").items():
        expected = getattr(defaults, key)
        assert (list(expected) if isinstance(expected, tuple) else expected) == value, key


def test_nt_xent_matches_the_definition_written_out():
    generator = torch.Generator().manual_seed(0)
    first = torch.nn.functional.normalize(torch.randn(5, 8, generator=generator), dim=1)
    second = torch.nn.functional.normalize(torch.randn(5, 8, generator=generator), dim=1)
    views, temperature, losses = torch.cat([first, second]), 0.1, []
    for i in range(10):
        positive = (i + 5) % 10
        numerator = math.exp(float(views[i] @ views[positive]) / temperature)
        denominator = sum(math.exp(float(views[i] @ views[k]) / temperature) for k in range(10) if k != i)
        losses.append(-math.log(numerator / denominator))
    assert float(nt_xent(first, second, temperature)) == pytest.approx(np.mean(losses), rel=1e-5)


def _train(small_world, tmp_path, objective: str, seed: int = 0, **settings):
    spec = world_spec(f"test-{objective}", {"objective": objective, **BRIEF, **settings}, seed=seed)
    weights = tmp_path / f"{objective}-{seed}" / "test-world-clip.pt"
    train_demo_backbone(stimuli=small_world["stimuli"], captions=small_world["captions"], weights=weights,
                        spec=spec, name=spec["name"], model=spec["model"])
    return spec, weights


def _evaluate(small_world, tmp_path, spec, weights) -> pd.Series:
    table = evaluate_backbone(weights=weights, spec=spec, stimuli=small_world["stimuli"], world=small_world["world"],
                              table=tmp_path / f"{spec['name']}.csv", backbone=spec["name"])
    return table.set_index(["probe", "attribute"])


@pytest.fixture(scope="module")
def evaluations(small_world, tmp_path_factory, one_thread_module):
    """Each training signal's evaluation, and the same network untrained."""
    tmp_path = tmp_path_factory.mktemp("trained")
    results = {}
    for objective in ("clip", "simclr", "text_contrastive"):
        settings = {"crop_scale": [0.35, 1.0]} if objective == "simclr" else {}  # the demo's crops
        spec, weights = _train(small_world, tmp_path, objective, **settings)
        results[objective] = _evaluate(small_world, tmp_path, spec, weights)
        results[f"{objective}_model"] = (spec, weights)
    untrained = world_spec("test-untrained", None)
    untrained_weights = tmp_path / "untrained" / "test-world-clip.pt"
    results["untrained"] = _evaluate(small_world, tmp_path, untrained, untrained_weights)
    results["untrained_model"] = (untrained, untrained_weights)
    return results


@pytest.fixture(scope="module")
def one_thread_module():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# What a brief training on the small world learns for sure; the demo's check (tests/workflow)
# asks the demo's longer training for nouns, categories and colours too.
@pytest.mark.parametrize("probe", [("retrieval", "image_to_text"), ("retrieval", "text_to_image"),
                                   ("zero_shot", "background")])
def test_clip_learns_the_world_and_the_untrained_network_does_not(evaluations, probe):
    trained, untrained = evaluations["clip"].loc[probe], evaluations["untrained"].loc[probe]
    assert above_chance(trained), trained
    assert z_difference(trained, untrained) > 3, (trained, untrained)


def _view_retrieval(small_world, spec, weights) -> float:
    """Top-1 retrieval of a held-out image's second augmented view from its first, among all
    held-out images: what SimCLR's objective asks of the image tower (chance 1 / n)."""
    from neurogaze.backbones.training import _normalise, _simclr_augmentation, read_training_data

    backbone = build_backbone({**spec, "weights": str(weights)})
    data = read_training_data(small_world["stimuli"], small_world["captions"], backbone.model, spec["model"],
                              split="test")
    augment = _simclr_augmentation(data.pixels.shape[-1], BackboneTraining(crop_scale=(0.35, 1.0)))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        first, second = (backbone.model.encode_image(_normalise(backbone.model, augment(data.pixels, generator)),
                                                     normalize=True) for _ in range(2))
    return float(((first @ second.T).argmax(dim=1) == torch.arange(len(first))).float().mean())


def test_simclr_learns_images_without_text(small_world, evaluations, tmp_path_factory):
    """SimCLR's image tower tells augmented views of unseen images apart far better than the same
    network untrained; its untrained text tower cannot retrieve captions."""
    simclr, clip = evaluations["simclr"], evaluations["clip"]
    n = int(simclr.loc[("retrieval", "image_to_text"), "n"])
    trained = {"accuracy": _view_retrieval(small_world, *evaluations["simclr_model"]), "n": n}
    untrained = {"accuracy": _view_retrieval(small_world, *evaluations["untrained_model"]), "n": n}
    assert z_difference(trained, untrained) > 3, (trained, untrained)
    image_to_text = ("retrieval", "image_to_text")
    assert z_difference(clip.loc[image_to_text], simclr.loc[image_to_text]) > 3, simclr


def test_text_contrastive_learns_captions_without_images(evaluations):
    text, untrained, clip = evaluations["text_contrastive"], evaluations["untrained"], evaluations["clip"]
    probe = ("retrieval", "caption_to_caption")
    assert z_difference(text.loc[probe], untrained.loc[probe]) > 3, (text, untrained)
    image_to_text = ("retrieval", "image_to_text")
    assert z_difference(clip.loc[image_to_text], text.loc[image_to_text]) > 3, text


def test_training_resumes_to_the_same_bytes_and_reruns_to_the_same_bytes(small_world, tmp_path, one_thread):
    settings = {"objective": "clip", "epochs": 2, "batch_size": 128, "lr": 0.002, "warmup_steps": 5}
    spec = world_spec("test-resume", settings)
    paths = [tmp_path / name / "test-world-clip.pt" for name in ("straight", "again", "resumed")]
    arguments = {"stimuli": small_world["stimuli"], "captions": small_world["captions"], "spec": spec,
                 "name": spec["name"], "model": spec["model"]}
    train_demo_backbone(weights=paths[0], **arguments)
    train_demo_backbone(weights=paths[1], **arguments)
    train_demo_backbone(weights=paths[2], stop_after_epoch=1, **arguments)
    assert not paths[2].exists() and (paths[2].parent / "test-world-clip.pt.resume" / "checkpoint.pt").is_file()
    train_demo_backbone(weights=paths[2], **arguments)
    assert paths[0].read_bytes() == paths[1].read_bytes() == paths[2].read_bytes()
    assert not (paths[2].parent / "test-world-clip.pt.resume").exists()
    build_backbone({**spec, "weights": str(paths[0])})  # loads back like a released checkpoint


def test_an_empty_caption_is_named(small_world, tmp_path):
    captions = pd.read_parquet(small_world["captions"])
    captions.loc[3, "caption"] = "  "
    bad = tmp_path / "captions.parquet"
    captions.to_parquet(bad)
    spec = world_spec("test-bad", {"objective": "clip", "epochs": 1})
    with pytest.raises(DataValidationError, match=r"captions.parquet.*caption.*caption_id"):
        train_demo_backbone(stimuli=small_world["stimuli"], captions=bad, weights=tmp_path / "w" / "m.pt",
                            spec=spec, name="test-bad", model=spec["model"])
    assert not (tmp_path / "w" / "m.pt").exists()


def test_a_train_image_without_captions_is_named(small_world, tmp_path):
    captions = pd.read_parquet(small_world["captions"])
    dropped = captions.loc[captions["split"] == "train", "stim_id"].iloc[0]
    bad = tmp_path / "captions.parquet"
    captions[captions["stim_id"] != dropped].to_parquet(bad)
    spec = world_spec("test-bad", {"objective": "clip", "epochs": 1})
    with pytest.raises(DataValidationError, match=rf"captions.parquet.*stim_id.*{dropped}"):
        train_demo_backbone(stimuli=small_world["stimuli"], captions=bad, weights=tmp_path / "w" / "m.pt",
                            spec=spec, name="test-bad", model=spec["model"])


def test_a_checkpoint_of_another_architecture_is_named(tmp_path):
    small = {**world_spec("test-small", None), "weights": str(tmp_path / "small" / "test-world-clip.pt")}
    build_backbone(small)
    other = {**small, "model": "test-other-clip", "architecture": {
        **small["architecture"], "embed_dim": 32}, "weights": str(tmp_path / "other" / "test-other-clip.pt")}
    build_backbone(other)
    released = {"name": "test-released", "model": "test-world-clip", "weights": other["weights"]}
    with pytest.raises(DataValidationError, match=r"test-other-clip.pt.*state_dict.*test-world-clip.*another "
                                                  r"architecture"):
        build_backbone(released)
