"""DiffEye's stages end to end on a tiny synthetic OSIE root: train (resumable), evaluate."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from neurogaze.data.contracts import read_metrics
from neurogaze.data.gaze.osie import load_osie
from neurogaze.data.synthetic.gaze import generate
from neurogaze.errors import DataValidationError
from neurogaze.figures.diffeye import plot
from neurogaze.gaze.diffeye import stages as diffeye_stages
from neurogaze.gaze.diffeye.model import DiffEyeConfig
from neurogaze.gaze.diffeye.stages import diffeye_evaluate, diffeye_train, geometry_for, read_root

SETTINGS = {
    "length": 64, "channels": [16, 32], "n_heads": 2, "time_dim": 32, "patch_grid": 4, "cpe_grid": 16,
    "batch_size": 8, "train_steps": 4, "checkpoint_every": 2, "inference_steps": 2, "n_samples": 2,
    "test_fraction": 0.34, "seed": 0, "pixels_per_degree": 24.0, "sigma_deg": 1.0,
    "detector": {"method": "ivt"}, "levenshtein_grid": [5, 5], "sample_batch": 8,
    "backbone": {"weights": None, "image_size": 56, "patch_size": 14, "hidden_size": 32, "layers": 1, "heads": 2},
}


# the project's fixture: tiny models run several times faster on one intra-op thread
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def osie_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("osie") / "root"
    generate("osie", root, {"n_images": 3, "n_subjects": 3, "width": 80, "height": 64}, seed=0)
    return root


def test_geometry_for_gives_the_asked_pixel_size():
    assert geometry_for(24.0).degrees_per_pixel() == pytest.approx(1 / 24.0)


def test_train_then_evaluate_on_seen_and_unseen_roots(osie_root, tmp_path):
    model = tmp_path / "model"
    diffeye_train(root=osie_root, out_dir=model, settings=SETTINGS)
    payload = torch.load(model / "model.pt", weights_only=False)
    assert payload["progress"]["step"] == 4 and len(payload["split"]["test"]) == 1
    assert not (tmp_path / "model.partial").exists()
    # the centre-bias baseline's knowledge: the training images' humans only
    humans = load_osie(osie_root).fixations
    training = humans[~humans["stim_id"].isin(payload["split"]["test"])]
    assert sorted(payload["baseline"]["durations"]) == sorted(training["duration_ms"])
    assert len(payload["baseline"]["lengths"]) == training.groupby(["stim_id", "subject", "trial"]).ngroups
    first = (model / "model.pt").read_bytes()
    diffeye_train(root=osie_root, out_dir=tmp_path / "again", settings=SETTINGS)
    assert (tmp_path / "again" / "model.pt").read_bytes() == first  # same config, same bytes

    diffeye_evaluate(model=model, root=osie_root, out_dir=tmp_path / "evaluation")
    table = read_metrics(tmp_path / "evaluation" / "metrics.csv")
    test_image = payload["split"]["test"][0]
    assert set(table["unit"]) == {test_image, "dataset_mean"} and set(table["split"]) == {"test"}
    assert set(table["method"]) == {"diffeye", "centre_bias"}
    for name in ("levenshtein_mean", "dfd_best", "dtw_mean", "tde_best", "diversity_dfd", "nss", "cc", "kld"):
        assert name in set(table["metric"])
    samples = np.load(tmp_path / "evaluation" / "samples.npz")
    assert samples["trajectories"].shape == (1, 2, 64, 2)
    smap = np.load(tmp_path / "evaluation" / "saliency" / f"{test_image}.npy")
    assert smap.shape == (64, 80) and smap.sum() == pytest.approx(1.0, rel=1e-4)
    assert set(pd.read_parquet(tmp_path / "evaluation" / "scanpaths.parquet")["stim_id"]) <= {test_image}

    other = tmp_path / "other"
    generate("osie", other, {"n_images": 2, "n_subjects": 2, "width": 80, "height": 64}, seed=5)
    diffeye_evaluate(model=model, root=other, out_dir=tmp_path / "unseen")
    unseen = read_metrics(tmp_path / "unseen" / "metrics.csv")
    assert set(unseen["split"]) == {"unseen"} and len(set(unseen["unit"])) == 3

    older = tmp_path / "older"
    shutil.copytree(model, older)
    torch.save({k: v for k, v in payload.items() if k != "baseline"}, older / "model.pt")
    with pytest.raises(DataValidationError, match="baseline"):
        diffeye_evaluate(model=older, root=osie_root, out_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_training_resumes_from_its_partial_folder(osie_root, tmp_path, monkeypatch, caplog):
    settings = {**SETTINGS, "train_steps": 4, "checkpoint_every": 2}
    diffeye_train(root=osie_root, out_dir=tmp_path / "full", settings=settings)

    def interrupted(state):
        if state["progress"]["step"] == 4:
            raise KeyboardInterrupt
        write(state)

    write = None
    original = diffeye_stages._save_progress

    def save_then_stop(folder, key):
        nonlocal write
        write = original(folder, key)
        return interrupted

    with monkeypatch.context() as patch:  # killed after the step-2 checkpoint
        patch.setattr(diffeye_stages, "_save_progress", save_then_stop)
        with pytest.raises(KeyboardInterrupt):
            diffeye_train(root=osie_root, out_dir=tmp_path / "resumed", settings=settings)
    assert (tmp_path / "resumed.partial" / "checkpoint.pt").is_file()
    with caplog.at_level("INFO"):
        diffeye_train(root=osie_root, out_dir=tmp_path / "resumed", settings=settings)
    assert "resuming after step 2" in caplog.text
    assert not (tmp_path / "resumed.partial").exists()
    full = torch.load(tmp_path / "full" / "model.pt", weights_only=False)["state_dict"]
    resumed = torch.load(tmp_path / "resumed" / "model.pt", weights_only=False)["state_dict"]
    for name, value in full.items():
        assert torch.equal(value, resumed[name]), name


def test_bad_root_and_missing_model_are_named_before_any_output(osie_root, tmp_path):
    with pytest.raises(DataValidationError, match="a gaze root"):
        diffeye_train(root=tmp_path, out_dir=tmp_path / "model", settings=SETTINGS)
    with pytest.raises(DataValidationError, match="diffeye_train"):
        diffeye_evaluate(model=tmp_path / "none", root=osie_root, out_dir=tmp_path / "evaluation")
    assert not (tmp_path / "model").exists() and not (tmp_path / "evaluation").exists()


def test_eyelink_root_gives_cut_trajectories(tmp_path):
    root = tmp_path / "eyelink"
    generate("eyelink", root, {"n_subjects": 2, "n_trials": 2, "image_width": 160, "image_height": 120}, seed=0)
    config = DiffEyeConfig(length=64, channels=(16, 32), n_heads=2, feature_dim=32)
    data = read_root(root, config, {"pixels_per_degree": 24.0, "detector": {"method": "ivt"}})
    assert data.trajectories.xy.shape == (4, 64, 2)
    assert set(data.trajectories.meta["stim_id"]) == set(data.scanpaths) == set(data.images)


def test_plot_writes_both_figures(osie_root, tmp_path):
    diffeye_train(root=osie_root, out_dir=tmp_path / "model", settings=SETTINGS)
    diffeye_train(root=osie_root, out_dir=tmp_path / "ablation", settings=SETTINGS, variant="no_cpe")
    assert not torch.load(tmp_path / "ablation" / "model.pt", weights_only=False)["config"]["cpe"]
    for name in ("model", "ablation"):
        diffeye_evaluate(model=tmp_path / name, root=osie_root, out_dir=tmp_path / f"evaluation_{name}")
    plot(evaluations=[tmp_path / "evaluation_model", tmp_path / "evaluation_ablation"], figures=tmp_path / "figures")
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["metrics.png", "trajectories.png"]
    methods = set(read_metrics(tmp_path / "evaluation_ablation" / "metrics.csv")["method"])
    assert methods == {"diffeye_no_cpe", "centre_bias"}
