"""The NevaClip stage as its rule and the CLI run it: the CLI gives the bytes of a direct call on
the same threads, the backbone comes from its spec and the weights file, and the resume folder is
kept only when it was made from the same inputs and settings."""

import json
import logging

import pytest

from neurogaze.cli import default_config, main
from neurogaze.config import load_config
from neurogaze.data.contracts import read_fixations
from neurogaze.gaze.nevaclip import stages
from neurogaze.io import fingerprint
from neurogaze.runlog import set_threads
from neurogaze.stages import STAGES, stage_params

from ..toy import SPLITS, STIM_IDS, write_toy_gaze

# a short search on the demo backbone: 3 fixations of 2 steps
pytestmark = pytest.mark.usefixtures("one_thread", "thread_environment")

QUICK = ["nevaclip.n_fixations=3", "nevaclip.opt_steps=2", "nevaclip.batch_size=2", "nevaclip.backbone=demo-clip",
         "device=cpu"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_toy_gaze(tmp_path_factory.mktemp("toy"))


def params(*overrides: str) -> dict:
    return stage_params("nevaclip_scanpaths", load_config(default_config(), overrides=[*QUICK, *overrides]))


def run(toy, weights, out, *overrides, **arguments):
    fixations, stimuli = toy
    stages.scanpaths(dataset="toy", fixations=fixations, stimuli=stimuli, weights=weights, scanpaths=out,
                     **params(*overrides), **arguments)


def test_scanpaths_through_the_cli_give_the_bytes_of_a_direct_call(toy, demo_backbone, tmp_path):
    fixations, stimuli = toy
    weights = str(demo_backbone.weights_file)
    by_cli, direct = tmp_path / "cli" / "fixations.parquet", tmp_path / "direct" / "fixations.parquet"
    overrides = [argument for value in QUICK for argument in ("--set", value)]
    files = [str(fixations), str(stimuli), weights, str(by_cli)]
    assert main(["nevaclip-scanpaths", "toy", *files, *overrides]) == 0
    set_threads(STAGES["nevaclip_scanpaths"].threads)
    run(toy, weights, direct)
    assert by_cli.read_bytes() == direct.read_bytes()
    table = read_fixations(by_cli)
    assert set(table["stim_id"]) == {stim for stim, split in zip(STIM_IDS, SPLITS) if split == "test"}
    assert (table.groupby("stim_id").size() == 3).all() and (table["subject"] == "nevaclip").all()
    assert not (tmp_path / "cli" / "fixations.parquet.partial").exists()  # spent once the table is written


def test_params_carry_the_backbone_spec_and_only_nevaclips_settings():
    given = params()
    assert set(given) == {"backbone", "settings", "split", "device"}
    assert given["backbone"]["name"] == "demo-clip" and given["backbone"]["weights"].endswith("demo-clip.pt")
    assert not {"enabled", "datasets", "backbone"} & set(given["settings"])
    assert params("gaze_evaluation.sigma_deg=3", "gaze_baselines.n_samples=2") == given


def interrupted_run(toy, weights, out, monkeypatch, *overrides):
    """A run stopped after every scanpath was searched, before the table was written."""

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(stages, "write_fixations", stop)
        with pytest.raises(KeyboardInterrupt):
            run(toy, weights, out, *overrides)


def test_an_interrupted_run_resumes_from_the_scanpaths_it_finished(toy, demo_backbone, tmp_path, monkeypatch,
                                                                   caplog):
    weights, out = str(demo_backbone.weights_file), tmp_path / "fixations.parquet"
    interrupted_run(toy, weights, out, monkeypatch)
    partial = tmp_path / "fixations.parquet.partial"
    assert len(list(partial.glob("*.npy"))) == 3 and (partial / "key.json").is_file()
    with caplog.at_level(logging.INFO):
        run(toy, weights, out)
    assert "3 of 3 scanpaths found" in caplog.text
    uninterrupted = tmp_path / "uninterrupted.parquet"
    run(toy, weights, uninterrupted)
    assert out.read_bytes() == uninterrupted.read_bytes()


def test_the_resume_key_holds_every_input_and_the_settings(toy, demo_backbone, tmp_path, monkeypatch):
    weights, out = str(demo_backbone.weights_file), tmp_path / "fixations.parquet"
    interrupted_run(toy, weights, out, monkeypatch)
    key = json.loads((tmp_path / "fixations.parquet.partial" / "key.json").read_text())
    fixations, stimuli = toy
    assert key["fixations"] == fingerprint(fixations) and key["stimuli"] == fingerprint(stimuli)
    assert key["weights"] == fingerprint(weights) and key["captions"] is None
    assert key["settings"]["opt_steps"] == 2 and "batch_size" not in key["settings"]  # batching changes nothing


@pytest.mark.parametrize("change", ["settings", "stimuli"])
def test_a_resume_folder_from_other_inputs_or_settings_is_discarded(toy, demo_backbone, tmp_path, monkeypatch,
                                                                    caplog, change):
    weights, out = str(demo_backbone.weights_file), tmp_path / "fixations.parquet"
    interrupted_run(toy, weights, out, monkeypatch)
    overrides = ["nevaclip.step_size=0.2"] if change == "settings" else []
    if change == "stimuli":
        toy = write_toy_gaze(tmp_path / "other", seed=1)  # other images under the same ids
    with caplog.at_level(logging.INFO):
        run(toy, weights, out, *overrides)
    assert "discarding the partial results" in caplog.text
    assert "scanpaths found" not in caplog.text


def test_an_unknown_scanpath_model_is_refused_before_any_output(toy, demo_backbone, tmp_path):
    from neurogaze.errors import ConfigError

    out = tmp_path / "x" / "fixations.parquet"
    with pytest.raises(ConfigError, match="nevaclip_free_viewing"):
        run(toy, str(demo_backbone.weights_file), out, model="nevaclip_prompt")
    assert not out.parent.exists()
