"""The stages on a small synthetic video set: targets -> train (resumable, self-describing) ->
evaluate -> plot, and the named errors of bad input."""

import json
import logging

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from neurogaze.brain.dynamic import stages
from neurogaze.data.dnv import export_dnv
from neurogaze.data.synthetic.video import SyntheticVideoConfig, generate_video
from neurogaze.data.video import export_video_responses, load_video
from neurogaze.errors import DataValidationError
from neurogaze.figures.dynamic import plot

from ...data.dnv_layout import N_TRS, VOXELS, write_dnv

SMALL = SyntheticVideoConfig(n_videos=12, n_frames=5, height=32, width=32, n_subjects=1, grid=(3, 3, 2),
                             test_every=3, format="frames")
DECODER = {"fmri_dim": 8, "hidden": 16, "channels": 8, "epochs": 3, "batch_size": 4}
VIDEO = {"num_frames": 4, "image_size": 32, "tiny": {"patch_size": 8, "tubelet_size": 2, "hidden_size": 16,
                                                     "num_hidden_layers": 1, "num_attention_heads": 2,
                                                     "intermediate_size": 32, "decoder_hidden_size": 16,
                                                     "decoder_num_hidden_layers": 1, "decoder_num_attention_heads": 2,
                                                     "decoder_intermediate_size": 32}}
IMAGE = {"image_size": 32, "tiny": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                    "intermediate_size": 32, "patch_size": 8}}
DIFFUSION = {"n_samples": 2, "num_frames": 3, "height": 32, "width": 32, "num_inference_steps": 1}


@pytest.fixture(scope="module")
def video_set(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("dynamic")
    generate_video(root / "synthetic", SMALL)
    load_video(root=root / "synthetic", videos=root / "videos", settings={}, subfolder="videos", device="cpu")
    export_video_responses(videos=root / "videos", betas=root / "synthetic", brain=root / "brain", subfolder="brain")
    stages.dynamic_pretrain_image(videos=root / "videos", out_dir=root / "image_model", settings={"epochs": 1},
                                  image=IMAGE, device="cpu")
    stages.dynamic_targets(videos=root / "videos", out_dir=root / "targets", grid=4, image=IMAGE,
                           image_model=root / "image_model", device="cpu")
    return root


def test_targets_train_evaluate_plot(video_set):
    root = video_set
    targets = stages.read_targets(root / "targets")
    assert targets["flow"].shape == (SMALL.n_videos, 4, 4, 2)
    assert targets["image_features"].shape[0] == SMALL.n_videos
    stages.dynamic_train(targets=root / "targets", brain=root / "brain", out_dir=root / "model", settings=DECODER,
                         grid=4, subject="01")
    saved = torch.load(root / "model" / "model.pt", weights_only=False)
    assert saved["config"]["epochs"] == 3 and "neurogaze_version" in saved and saved["centroids"].shape[1] == 2
    assert not (root / "model.partial").exists()
    stages.dynamic_video_diffusion(videos=root / "videos", targets=root / "targets", out_dir=root / "diffusion",
                                   settings=DIFFUSION, flow={"flow_method": "farneback"}, device="cpu")
    stages.dynamic_evaluate(targets=root / "targets", brain=root / "brain", model=root / "model",
                            videos=root / "videos", video_diffusion=root / "diffusion", out_dir=root / "evaluation",
                            subject="01", n_permutations=9, n_animations=1, animation_frames=3)
    table = pd.read_csv(root / "evaluation" / "epe.csv")
    assert set(table["method"]) == {"decoder", "ridge", "mean_flow", "shuffled_fmri", "video_diffusion"}
    assert len(table) == 5 * 4  # 4 test clips
    with np.load(root / "diffusion" / "flow.npz") as diffusion:  # the row is the best of the samples
        best = table[table["method"] == "video_diffusion"].set_index("video_id")["epe"]
        np.testing.assert_allclose(best[diffusion["video_id"].astype(str)], diffusion["sample_epe"].min(1), rtol=1e-5)
    assert 0 < json.loads((root / "evaluation" / "permutation.json").read_text())["p_value"] <= 1
    assert len(list((root / "evaluation" / "animations").glob("*.gif"))) == 2
    stages.dynamic_pretrain_video(videos=root / "videos", out_dir=root / "video_model", settings={"epochs": 1},
                                  video=VIDEO, device="cpu")
    stages.dynamic_encoders(videos=root / "videos", targets=root / "targets", brain=root / "brain",
                            out_dir=root / "encoders", subject="01", video={**VIDEO, "layer": 0, "pool_time": True},
                            image=IMAGE, cv=2, video_model=root / "video_model", image_model=root / "image_model",
                            device="cpu")
    voxels = pd.read_csv(root / "encoders" / "voxels.csv")
    assert len(voxels) == 3 * 3 * 2 - 2 * 2  # the mask leaves out two columns of the 3 x 3 x 2 box
    assert {"r_video", "r_image", "r_difference", "i", "j", "k"} <= set(voxels.columns)
    with np.load(root / "encoders" / "predictions.npz") as saved:  # per test clip, for clip-level inference
        assert saved["video"].shape == saved["image"].shape == saved["responses"].shape == (4, len(voxels))
    plot(evaluation=root / "evaluation", videos=root / "videos", figures=root / "figures", n_videos=1,
         encoders=root / "encoders")
    for name in ("flow_arrows.png", "epe.png", "video_vs_image.png"):
        assert (root / "figures" / name).is_file()


def test_resume_discards_a_checkpoint_of_other_settings(video_set, caplog):
    caplog.set_level(logging.INFO)
    root = video_set
    partial = root / "model2.partial"
    partial.mkdir()
    (partial / "key.json").write_text("{}\n")
    stages.dynamic_train(targets=root / "targets", brain=root / "brain", out_dir=root / "model2", settings=DECODER,
                         grid=4, subject="01")
    assert "discarding" in caplog.text
    first = torch.load(root / "model" / "model.pt", weights_only=False)["network"]
    again = torch.load(root / "model2" / "model.pt", weights_only=False)["network"]
    assert all(torch.equal(first[k], again[k]) for k in first)  # same config, same bytes


def test_bad_inputs_are_named(video_set, tmp_path):
    root = video_set
    with pytest.raises(DataValidationError, match="no such file"):
        stages.dynamic_train(targets=root / "targets", brain=root / "brain", out_dir=tmp_path / "m",
                             settings=DECODER, grid=4, subject="99")
    with h5py.File(root / "videos" / "flow.h5", "r") as handle:
        video_id = next(iter(handle["flow"]))
    with pytest.raises(DataValidationError, match="frames' size"):
        stages.check_flow_matches_frames(np.zeros((5, 32, 32, 3), np.uint8), np.zeros((4, 16, 16, 2)),
                                         root / "videos" / "flow.h5", video_id)


def test_the_dnv_layout_runs_through_the_decoder_stages(tmp_path):
    """The time-series layout (rule load_dnv) feeds the same stages: one sample per TR, the decoder
    reading a window of TRs that stays inside each segment."""
    torch.set_num_threads(1)
    write_dnv(tmp_path / "dnv", subjects=("1",))
    export_dnv(root=tmp_path / "dnv", videos=tmp_path / "videos", brain=tmp_path / "brain", device="cpu",
             settings={"subjects": ["1"], "frames_per_tr": 3, "frame_size": [32, 32]},
             flow={"flow_method": "farneback"})
    stages.dynamic_targets(videos=tmp_path / "videos", out_dir=tmp_path / "targets", grid=4, image=IMAGE,
                           device="cpu")
    targets = stages.read_targets(tmp_path / "targets")
    assert list(targets["segment"][N_TRS - 1:N_TRS + 1]) == ["seg1", "test1"]
    plain = stages.aligned_inputs(targets, tmp_path / "brain", "1")
    data = stages.aligned_inputs(targets, tmp_path / "brain", "1", window=(-1, 0, 1))
    assert data["fmri"].shape == (2 * N_TRS, 3 * VOXELS)
    last = N_TRS - 1  # seg1's last TR: its "next" TR is itself, not test1's first
    np.testing.assert_array_equal(data["fmri"][last], np.concatenate(plain["fmri"][[last - 1, last, last]]))
    window = [-1, 0, 1]
    stages.dynamic_train(targets=tmp_path / "targets", brain=tmp_path / "brain", out_dir=tmp_path / "model",
                         settings=DECODER, grid=4, subject="1", window=window)
    assert torch.load(tmp_path / "model" / "model.pt", weights_only=False)["fmri_window"] == window
    stages.dynamic_video_diffusion(videos=tmp_path / "videos", targets=tmp_path / "targets",
                                   out_dir=tmp_path / "diffusion", settings=DIFFUSION,
                                   flow={"flow_method": "farneback"}, device="cpu")
    stages.dynamic_evaluate(targets=tmp_path / "targets", brain=tmp_path / "brain", model=tmp_path / "model",
                            videos=tmp_path / "videos", video_diffusion=tmp_path / "diffusion",
                            out_dir=tmp_path / "evaluation", subject="1", n_permutations=9,
                            n_animations=1, animation_frames=3)
    table = pd.read_csv(tmp_path / "evaluation" / "epe.csv")
    assert sorted(table["video_id"].unique()) == [f"test1_tr{i:04d}" for i in range(N_TRS)]
