"""Video sets: contract round trip, flow with a known answer, RAFT from a local file, betas, bad input."""

import dataclasses
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

from neurogaze.data.contracts import read_brain_responses
from neurogaze.data.synthetic.video import (
    SyntheticVideoConfig,
    generate_video,
    voxel_responses,
)
from neurogaze.data.video import (
    FlowEstimator,
    VideoOptions,
    export_video_responses,
    farneback_flow,
    load_video,
    load_video_responses,
    load_video_responses_subject,
    load_video_set,
    read_video_set,
    video_responses_cohort,
)
from neurogaze.errors import DataValidationError, MissingWeightsError

# 16 videos and 144 voxels: with 8 videos and 48 voxels (~10 untuned) the untuned voxels' median
# noise ceiling ranged 0-0.58 over generator seeds 0-19, against a bound of 0.6
SMALL = SyntheticVideoConfig(
    n_videos=16, n_frames=8, height=48, width=48, n_subjects=1, grid=(6, 6, 4), repeats=4, seed=4
)


@pytest.fixture(scope="module")
def video_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("video") / "raw"
    truth = generate_video(root, SMALL)
    videos = load_video_set(root / "videos", root.parent / "videos_out", VideoOptions())
    export_video_responses(betas=root / "brain", videos=root.parent / "videos_out", brain=root.parent / "brain_out")
    return root, root.parent / "videos_out", root.parent / "brain_out", truth, videos


@pytest.fixture
def raw_copy(video_set, tmp_path):
    root = tmp_path / "raw"
    shutil.copytree(video_set[0], root)
    return root


def test_video_set_round_trip(video_set):
    root, out, _, truth, _ = video_set
    videos = read_video_set(out)
    assert sorted(videos.video_ids) == sorted(truth["videos"])
    assert videos.flow_method == "farneback"
    assert set(videos.index["source"].map(lambda s: Path(s).suffix)) == {".mp4", ""}  # both loader paths
    for row in videos.index.itertuples():
        frames, flow = videos.load_frames(row.video_id), videos.load_flow(row.video_id)
        assert frames.shape == (SMALL.n_frames, SMALL.height, SMALL.width, 3) and frames.dtype == np.uint8
        assert flow.shape == (SMALL.n_frames - 1, SMALL.height, SMALL.width, 2) and flow.dtype == np.float32
        assert row.fps == SMALL.fps
        assert row.split == truth["videos"][row.video_id]["split"]


def test_flow_follows_the_planted_motion(video_set):
    _, _, _, truth, videos = video_set
    checked = 0
    for video_id in videos.video_ids:
        planted = truth["videos"][video_id]
        if planted["kind"] == "grating" and planted["direction_deg"] % 90 == 0:
            # The aperture problem: an axis-aligned grating is a 1-D pattern whose local 2 x 2 system is
            # singular, and Farneback returns ~0 flow on it (clean frames) or a wrong direction (mp4):
            # on such videos the check failed for 4 of generator seeds 0-7. Discs and oblique
            # gratings: <= 18 deg off over seeds 0-19.
            continue
        checked += 1
        theta = np.deg2rad(planted["direction_deg"])
        flow = videos.load_flow(video_id)[:, 8:-8, 8:-8].reshape(-1, 2)
        moving = flow[np.linalg.norm(flow, axis=1) > 0.3 * planted["speed_px_per_frame"]]
        mean = moving.mean(0)
        angle = np.rad2deg(np.arctan2(mean[1], mean[0]) - theta)
        assert abs((angle + 180) % 360 - 180) < 25, video_id
    assert checked >= len(videos.video_ids) // 2  # every disc, at least


def test_farneback_recovers_a_known_translation():
    texture = ndimage.gaussian_filter(np.random.default_rng(0).random((80, 80)), 2.0)
    texture = (255 * (texture - texture.min()) / np.ptp(texture)).astype(np.uint8)
    shifted = ndimage.shift(texture.astype(float), (1.0, 2.0), order=3, mode="wrap").round().astype(np.uint8)
    frames = np.stack([np.repeat(image[..., None], 3, axis=2) for image in (texture, shifted)])
    flow = farneback_flow(frames)[0, 16:-16, 16:-16]
    np.testing.assert_allclose(flow.reshape(-1, 2).mean(0), [2.0, 1.0], atol=0.15)  # texture seeds 0-19: < 0.001


def _random_raft(path: Path, wrapped: bool = False) -> Path:
    import torch
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    state = raft_small(weights=None, progress=False).state_dict()
    torch.save({"state_dict": state} if wrapped else state, path)
    return path


@pytest.mark.parametrize("wrapped", [False, True])
def test_raft_loads_a_local_state_dict(tmp_path, wrapped):
    weights = _random_raft(tmp_path / "raft_small.pt", wrapped)
    estimator = FlowEstimator(
        VideoOptions(flow_method="raft", raft_weights=str(weights), raft_iterations=1, device="cpu")
    )
    assert estimator.name == "raft:raft_small"
    frames = np.random.default_rng(0).integers(0, 255, (2, 36, 44, 3), dtype=np.uint8)
    flow = estimator(frames)  # padded to RAFT's minimum size internally, cropped back
    assert flow.shape == (1, 36, 44, 2) and np.isfinite(flow).all()


def test_raft_flows_through_the_loader(video_set, tmp_path):
    folder = next(p for p in sorted((video_set[0] / "videos").iterdir()) if p.is_dir())
    shutil.copytree(folder, tmp_path / "videos" / folder.name)
    weights = _random_raft(tmp_path / "raft_small.pt")
    options = VideoOptions(
        fps=8.0, flow_method="raft", raft_weights=str(weights), raft_iterations=1, max_frames=3, device="cpu"
    )
    out = load_video_set(tmp_path / "videos", tmp_path / "out", options)
    assert out.flow_method == "raft:raft_small"
    flow = read_video_set(tmp_path / "out").load_flow(folder.name)
    assert flow.shape == (2, SMALL.height, SMALL.width, 2) and np.isfinite(flow).all()


def test_the_rule_reads_the_raft_weights_it_declares(video_set, tmp_path):
    """Rule load_video passes its RAFT input as ``raft``: that file is the one read, whatever
    ``datasets.video.raft_weights`` says (the stage once refused the argument)."""
    folder = next(p for p in sorted((video_set[0] / "videos").iterdir()) if p.is_dir())
    shutil.copytree(folder, tmp_path / "videos" / folder.name)
    weights = _random_raft(tmp_path / "raft_small.pt")
    settings = {"fps": 8.0, "flow_method": "raft", "raft_weights": str(tmp_path / "elsewhere.pt"),
                "raft_iterations": 1, "max_frames": 3}
    out = load_video(root=tmp_path, videos=tmp_path / "out", settings=settings, device="cpu", subfolder="videos",
                     raft=weights)
    assert out.flow_method == "raft:raft_small"


def test_raft_without_weights_is_refused(tmp_path):
    with pytest.raises(MissingWeightsError):
        FlowEstimator(VideoOptions(flow_method="raft", raft_weights=None))
    with pytest.raises(MissingWeightsError):
        FlowEstimator(VideoOptions(flow_method="raft", raft_weights=str(tmp_path / "absent.pt")))


def test_betas_become_brain_responses_with_planted_tuning(video_set):
    root, out, brain, truth, videos = video_set
    data = read_brain_responses(brain / "01.h5")
    voxels = pd.DataFrame(truth["subjects"]["01"]["voxels"])
    mask = nib.load(root / "brain" / "sub-01_mask.nii.gz").get_fdata() > 0
    assert data.responses.shape == (SMALL.n_videos, int(mask.sum()))
    np.testing.assert_array_equal(data.voxel_ijk, np.argwhere(mask))
    assert list(data.stim_ids) == videos.video_ids
    listing = pd.DataFrame.from_dict(truth["videos"], orient="index").rename_axis("video_id").reset_index()
    expected = voxel_responses(listing.set_index("video_id").loc[list(data.stim_ids)].reset_index(), voxels, SMALL)
    tuned = (voxels["kind"] != "noise").to_numpy()
    fit = [np.corrcoef(data.responses[:, i], expected[:, i])[0, 1] for i in np.flatnonzero(tuned)]
    # Generator seeds 0-19: fit median 0.91-0.95, tuned ceiling 0.92-0.95, untuned 0-0.47. The ceiling
    # is sqrt(2r / (1 + r)) of a split-half r: untuned r ~ N(0, 0.26) over 16 videos, and its median over
    # ~29 untuned voxels has an SE of ~0.06, so the bound (r = 0.22) is ~3.7 SE away.
    assert np.median(fit) > 0.8
    assert np.nanmedian(data.noise_ceiling[tuned]) > 0.8
    assert np.nanmedian(data.noise_ceiling[~tuned]) < 0.6


def _expect_error(func, field: str, out: Path) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        func()
    assert info.value.field == field
    assert not out.exists()
    return info.value


def test_listed_video_that_is_absent_is_named(raw_copy, tmp_path):
    listing = raw_copy / "videos" / "videos.tsv"
    table = pd.read_csv(listing, sep="\t")
    pd.concat([table, pd.DataFrame({"video_id": ["ghost"], "fps": [8.0], "split": ["train"]})]).to_csv(
        listing, sep="\t", index=False
    )
    error = _expect_error(lambda: load_video_set(raw_copy / "videos", tmp_path / "out"), "video_id", tmp_path / "out")
    assert "ghost" in str(error)


def test_unlisted_video_is_named(raw_copy, tmp_path):
    listing = raw_copy / "videos" / "videos.tsv"
    pd.read_csv(listing, sep="\t").iloc[1:].to_csv(listing, sep="\t", index=False)
    _expect_error(lambda: load_video_set(raw_copy / "videos", tmp_path / "out"), "video_id", tmp_path / "out")


def test_corrupt_video_file_is_named(raw_copy, tmp_path):
    path = sorted((raw_copy / "videos").glob("*.mp4"))[0]
    path.write_bytes(path.read_bytes()[:300])
    error = _expect_error(lambda: load_video_set(raw_copy / "videos", tmp_path / "out"), "file", tmp_path / "out")
    assert error.path == str(path)


def test_frames_of_different_sizes_are_named(raw_copy, tmp_path):
    folder = next(p for p in sorted((raw_copy / "videos").iterdir()) if p.is_dir())
    frame = sorted(folder.glob("*.png"))[3]
    Image.new("RGB", (20, 20)).save(frame)
    error = _expect_error(lambda: load_video_set(raw_copy / "videos", tmp_path / "out"), "shape", tmp_path / "out")
    assert error.path == str(frame)


def test_corrupt_frame_is_named(raw_copy, tmp_path):
    folder = next(p for p in sorted((raw_copy / "videos").iterdir()) if p.is_dir())
    frame = sorted(folder.glob("*.png"))[2]
    frame.write_bytes(b"not a png")
    _expect_error(lambda: load_video_set(raw_copy / "videos", tmp_path / "out"), "file", tmp_path / "out")


def test_frame_folder_without_fps_is_named(raw_copy, tmp_path):
    (raw_copy / "videos" / "videos.tsv").unlink()
    _expect_error(lambda: load_video_set(raw_copy / "videos", tmp_path / "out"), "fps", tmp_path / "out")
    videos = load_video_set(raw_copy / "videos", tmp_path / "ok", VideoOptions(fps=10.0))
    frame_rows = videos.index[videos.index["source"].map(lambda s: Path(s).suffix == "")]
    assert (frame_rows["fps"] == 10.0).all()


def test_mask_with_another_affine_is_named(video_set, raw_copy, tmp_path):
    mask_path = raw_copy / "brain" / "sub-01_mask.nii.gz"
    mask = nib.load(mask_path)
    affine = mask.affine.copy()
    affine[1, 3] += 3.0
    nib.save(nib.Nifti1Image(np.asarray(mask.dataobj), affine), mask_path)
    error = _expect_error(
        lambda: export_video_responses(betas=raw_copy / "brain", videos=video_set[1], brain=tmp_path / "out"),
        "affine",
        tmp_path / "out",
    )
    assert error.path == str(mask_path)


def test_mask_with_another_shape_is_named(video_set, raw_copy, tmp_path):
    mask_path = raw_copy / "brain" / "sub-01_mask.nii.gz"
    mask = nib.load(mask_path)
    nib.save(nib.Nifti1Image(np.asarray(mask.dataobj)[:-1], mask.affine), mask_path)
    _expect_error(
        lambda: export_video_responses(betas=raw_copy / "brain", videos=video_set[1], brain=tmp_path / "out"),
        "shape",
        tmp_path / "out",
    )


def test_betas_of_unknown_video_are_named(video_set, raw_copy, tmp_path):
    table_path = raw_copy / "brain" / "sub-01_betas.tsv"
    table = pd.read_csv(table_path, sep="\t")
    table.loc[0, "video_id"] = "ghost"
    table.to_csv(table_path, sep="\t", index=False)
    error = _expect_error(
        lambda: export_video_responses(betas=raw_copy / "brain", videos=video_set[1], brain=tmp_path / "out"),
        "video_id",
        tmp_path / "out",
    )
    assert "ghost" in str(error)


def test_betas_table_with_wrong_length_is_named(video_set, raw_copy, tmp_path):
    table_path = raw_copy / "brain" / "sub-01_betas.tsv"
    pd.read_csv(table_path, sep="\t").iloc[:-1].to_csv(table_path, sep="\t", index=False)
    _expect_error(
        lambda: export_video_responses(betas=raw_copy / "brain", videos=video_set[1], brain=tmp_path / "out"),
        "rows",
        tmp_path / "out",
    )


def test_nan_betas_are_named(video_set, raw_copy, tmp_path):
    betas_path = raw_copy / "brain" / "sub-01_betas.nii.gz"
    image = nib.load(betas_path)
    data = np.asarray(image.dataobj).copy()
    data[1, 1, 1, 0] = np.inf
    nib.save(nib.Nifti1Image(data, image.affine), betas_path)
    _expect_error(
        lambda: export_video_responses(betas=raw_copy / "brain", videos=video_set[1], brain=tmp_path / "out"),
        "data",
        tmp_path / "out",
    )


def test_empty_folder_is_named(tmp_path):
    (tmp_path / "videos").mkdir()
    _expect_error(lambda: load_video_set(tmp_path / "videos", tmp_path / "out"), "videos", tmp_path / "out")


def test_one_job_per_subject_then_the_gather_is_the_single_process_folder(tmp_path):
    """video_responses_cohort -> load_video_responses_subject per subject -> load_video_responses
    writes the bytes export_video_responses writes in one process."""
    raw = tmp_path / "raw"
    generate_video(raw, dataclasses.replace(SMALL, n_videos=8, n_subjects=2, repeats=2))
    load_video_set(raw / "videos", tmp_path / "videos", VideoOptions())
    files = {"videos": tmp_path / "videos", "betas": raw, "subfolder": "brain"}
    whole = tmp_path / "whole"
    assert export_video_responses(**files, brain=whole) == ["01", "02"]
    parts = tmp_path / "parts"
    subjects = video_responses_cohort(betas=raw, subjects=parts / "subjects.csv", subfolder="brain")
    assert subjects == ["01", "02"]
    for subject in subjects:
        load_video_responses_subject(**files, subject=subject, responses=parts / f"{subject}.h5")
    fanned = tmp_path / "fanned"
    with pytest.raises(DataValidationError, match="02.h5"):  # a subject short: named, nothing written
        load_video_responses(subjects=parts / "subjects.csv", parts=[str(parts / "01.h5")], brain=fanned)
    assert not fanned.exists()
    load_video_responses(subjects=parts / "subjects.csv", parts=[str(parts / f"{s}.h5") for s in subjects],
                         brain=fanned)
    names = sorted(path.name for path in whole.iterdir())
    assert names == sorted(path.name for path in fanned.iterdir()) == ["01.h5", "02.h5"]
    for name in names:
        assert (whole / name).read_bytes() == (fanned / name).read_bytes(), name
