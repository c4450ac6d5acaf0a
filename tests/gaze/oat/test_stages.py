"""OAT's stages end to end: on a tiny shelf set (files, a self-describing model, resuming, named
errors), the demo's planted check (OAT beats every baseline on held-out synthetic searchers) and
the real Kreiman check (skipped without the data)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from neurogaze.config import load_config, repository_root
from neurogaze.data.synthetic.shelf import SyntheticShelfConfig, generate_shelf
from neurogaze.errors import DataValidationError
from neurogaze.figures.oat import plot
from neurogaze.gaze.oat import stages as oat_stages
from neurogaze.gaze.oat.stages import MODEL_FILE, oat_evaluate, oat_train
from neurogaze.metrics.scanpath import object_sequence_score
from neurogaze.stages import STAGES

TINY = {"d_model": 24, "n_heads": 2, "encoder_layers": 1, "decoder_layers": 1, "feedforward": 16,
        "patch_size": [30, 30], "pe_iterations": 100, "max_epochs": 2, "patience": 2, "max_length": 8,
        "n_samples": 2, "batch_size": 10}
BASELINES = ("random", "nearest_first", "saliency", "target_similarity")


@pytest.fixture(scope="module")
def tiny_shelf(tmp_path_factory):
    root = tmp_path_factory.mktemp("oat") / "shelf"
    generate_shelf(root, SyntheticShelfConfig(n_shelves=2, n_subjects=4, max_fixations=6))
    return root


def test_train_and_evaluate_write_self_describing_outputs(tiny_shelf, tmp_path):
    model_dir, evaluation = tmp_path / "model", tmp_path / "evaluation"
    oat_train(root=tiny_shelf, out_dir=model_dir, settings=TINY, split={})
    payload = torch.load(model_dir / MODEL_FILE, weights_only=False)
    assert payload["config"]["d_model"] == 24 and payload["n_objects"] == 84 and payload["ring"] == 0
    assert set(payload["split"]) == {"train", "validation", "test"} and "neurogaze_version" in payload
    assert not (tmp_path / "model.partial").exists()
    oat_evaluate(model=model_dir, root=tiny_shelf, out_dir=evaluation)
    metrics = pd.read_csv(evaluation / "metrics.csv")
    assert set(metrics["method"]) == {"oat", *BASELINES}
    assert set(metrics["subject"]) == {*payload["split"]["test"], "all"}
    assert {"sequence_score", "behaviour_delta", "edit_distance", "mm_vector"} <= set(metrics["metric"])
    # the same inputs and settings give the same bytes
    oat_evaluate(model=model_dir, root=tiny_shelf, out_dir=tmp_path / "again")
    assert (tmp_path / "again" / "metrics.csv").read_bytes() == (evaluation / "metrics.csv").read_bytes()
    plot(evaluation=evaluation, root=tiny_shelf, figures=tmp_path / "figures")
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["metrics.png", "scanpaths.png"]


def test_training_resumes_from_its_partial_folder(tiny_shelf, tmp_path, monkeypatch, caplog):
    settings = {**TINY, "patience": 5}
    oat_train(root=tiny_shelf, out_dir=tmp_path / "full", settings=settings, split={})

    def interrupted(path):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # killed after training, before the model is written
        patch.setattr(oat_stages, "atomic_directory", interrupted)
        with pytest.raises(KeyboardInterrupt):
            oat_train(root=tiny_shelf, out_dir=tmp_path / "resumed", settings=settings, split={})
    assert (tmp_path / "resumed.partial" / "checkpoint.pt").is_file()
    with caplog.at_level("INFO"):
        oat_train(root=tiny_shelf, out_dir=tmp_path / "resumed", settings=settings, split={})
    assert "resuming after epoch 2" in caplog.text
    assert not (tmp_path / "resumed.partial").exists()
    full = torch.load(tmp_path / "full" / MODEL_FILE, weights_only=False)
    resumed = torch.load(tmp_path / "resumed" / MODEL_FILE, weights_only=False)
    for name, value in full["state_dict"].items():
        assert torch.equal(value, resumed["state_dict"][name])


def test_bad_roots_and_subjects_are_named_errors(tiny_shelf, tmp_path):
    with pytest.raises(DataValidationError, match="object-array root"):
        oat_train(root=tmp_path, out_dir=tmp_path / "model", settings=TINY, split={})
    with pytest.raises(DataValidationError, match="oat.split"):
        oat_train(root=tiny_shelf, out_dir=tmp_path / "model", settings=TINY, split={"test_subjects": ["nobody"]})
    assert not (tmp_path / "model").exists()


def _per_trial_sequence_scores(evaluation) -> pd.DataFrame:
    predictions = pd.read_parquet(evaluation / "predictions.parquet")
    human = predictions[predictions["method"] == "human"].set_index("key")["sequence"]
    rows = []
    for row in predictions[predictions["method"] != "human"].itertuples():
        score = object_sequence_score(np.array(row.sequence.split(), int), np.array(human[row.key].split(), int))
        rows.append({"method": row.method, "key": row.key, "score": score})
    return pd.DataFrame(rows).pivot(index="key", columns="method", values="score")


def assert_oat_beats_baselines(evaluation, standard_errors: float = 3.0) -> None:
    """OAT's Sequence Score above each baseline's by ``standard_errors`` SEs of the paired
    per-trial difference, and its behavioural delta (pooled over the held-out trials, as the
    reference scores) below each baseline's."""
    scores = _per_trial_sequence_scores(evaluation)
    metrics = pd.read_csv(evaluation / "metrics.csv")
    delta = metrics[(metrics["metric"] == "behaviour_delta") & (metrics["subject"] == "all")]
    delta = delta.set_index("method")["value"]
    for baseline in BASELINES:
        difference = scores["oat"] - scores[baseline]
        se = difference.std(ddof=1) / math.sqrt(len(difference))
        assert difference.mean() > standard_errors * se, (baseline, difference.mean(), se)
        assert delta["oat"] < delta[baseline], (baseline, delta)


@pytest.mark.longrun
def test_demo_oat_beats_every_baseline_on_held_out_searchers(tmp_path):
    """The demo's planted truth: searchers guided by the target's colour and noun and by
    proximity; OAT (demo config) learns it from the training searchers."""
    config = load_config(repository_root() / "config" / "config.yaml")
    root = tmp_path / "shelf"
    STAGES["generate_shelf"].load()(root=root, **STAGES["generate_shelf"].params(config))
    oat_train(root=root, out_dir=tmp_path / "model", **STAGES["oat_train"].params(config))
    oat_evaluate(model=tmp_path / "model", root=root, out_dir=tmp_path / "evaluation")
    assert_oat_beats_baselines(tmp_path / "evaluation")


KREIMAN_SETTINGS = {"d_model": 128, "n_heads": 4, "encoder_layers": 2, "decoder_layers": 2, "feedforward": 256,
                    "learning_rate": 1e-3, "batch_size": 100, "max_epochs": 25, "patience": 25, "n_samples": 20,
                    "max_length": 12}


@pytest.mark.longrun
@pytest.mark.xfail(strict=True, reason="not reached at benchmarks/oat.py's sizes (test Alexandru, Luisa, Vivian): "
                   "Sequence Score 0.790 / 0.809 / 0.848 vs target similarity's 0.808 / 0.823 / 0.866 (the target "
                   "alone; the cue is the array's own image, fixated first in 70 % of the test searches); pooled delta "
                   "1.46 vs 0.47, lost through the revisit ratio (OAT 0.0041, test subjects 0.0005); the training "
                   "subjects' own mean behaviour has delta 0.53 against the test subjects, and their own scanpaths on "
                   "the test trials' very displays score 0.738 against the target alone's 0.805 "
                   "(benchmarks/oat.py --human-bound): a model of the training searchers can at best tie here")
def test_real_kreiman_oat_beats_every_baseline_on_held_out_subjects(real_data_dir, tmp_path):
    """Trained on the training subjects of the Kreiman arrays (benchmarks/oat.py's sizes), scored
    on the held-out ones."""
    root = real_data_dir / "kreiman_objarray"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    oat_train(root=root, out_dir=tmp_path / "model", settings=KREIMAN_SETTINGS, split={})
    oat_evaluate(model=tmp_path / "model", root=root, out_dir=tmp_path / "evaluation")
    assert_oat_beats_baselines(tmp_path / "evaluation")
