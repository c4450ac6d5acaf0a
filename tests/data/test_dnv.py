"""The Dynamic Natural Vision loader (rules load_dnv, load_dnv_subject, load_dnv_responses) on a
tiny set written in its layout: one video per TR (the frames sampled inside it, their flow, its
segment and index), per-TR responses (runs z-scored, repeats averaged, split-half ceiling), the
named errors, and the fanned-out rules' bytes against the one-process loader."""

import numpy as np
import pytest

from neurogaze.data.contracts import read_brain_responses
from neurogaze.data.dnv import export_dnv, load_dnv, load_dnv_responses, load_dnv_subject
from neurogaze.data.video import read_video_set
from neurogaze.errors import DataValidationError

from .dnv_layout import N_TRS, TR, write_dnv, write_movie

SETTINGS = {"subjects": ["1", "2"], "tr": TR, "frames_per_tr": 3, "frame_size": None}
FLOW = {"flow_method": "farneback"}


def run(root, tmp_path, **settings):
    export_dnv(root=root, videos=tmp_path / "videos", brain=tmp_path / "brain", settings={**SETTINGS, **settings},
             flow=FLOW, device="cpu")


def test_one_video_per_tr_and_per_tr_responses(tmp_path):
    signal = write_dnv(tmp_path / "dnv")
    run(tmp_path / "dnv", tmp_path)
    videos = read_video_set(tmp_path / "videos")
    index = videos.index
    assert list(index["video_id"][:2]) == ["seg1_tr0000", "seg1_tr0001"] and len(index) == 2 * N_TRS
    assert list(index["segment"][::N_TRS]) == ["seg1", "test1"] and list(index["split"][::N_TRS]) == ["train", "test"]
    np.testing.assert_array_equal(index["tr_index"], np.tile(np.arange(N_TRS), 2))
    # TR 1 keeps movie frames 12, 16, 20 (3 evenly spaced of its 12): grey levels 48, 64, 80
    frames = videos.load_frames("seg1_tr0001")
    assert frames.shape == (3, 16, 16, 3) and videos.load_flow("seg1_tr0001").shape == (2, 16, 16, 2)
    np.testing.assert_allclose(frames[:, 8, 8, 0], [48, 64, 80], atol=3)
    for subject in ("1", "2"):
        responses = read_brain_responses(tmp_path / "brain" / f"{subject}.h5")
        assert list(responses.stim_ids) == list(index["video_id"])
        truth = (signal["seg1"] - signal["seg1"].mean(0)) / signal["seg1"].std(0)  # each run's scale and offset gone
        np.testing.assert_allclose(responses.responses[:N_TRS], truth, atol=0.05)
        assert (responses.noise_ceiling > 0.9).all()  # repeats agree: the split-half ceiling is near 1


def test_a_movie_shorter_than_its_run_is_named(tmp_path):
    write_dnv(tmp_path / "dnv")
    write_movie(tmp_path / "dnv" / "stimuli" / "test1.mp4", N_TRS * 12 - 5)
    with pytest.raises(DataValidationError, match="as long as its run"):
        run(tmp_path / "dnv", tmp_path)
    assert not (tmp_path / "videos").exists() and not (tmp_path / "brain").exists()


def test_a_tr_that_does_not_divide_the_frame_rate_is_named(tmp_path):
    write_dnv(tmp_path / "dnv", subjects=("1",), tr=0.25, n_frames=24)
    with pytest.raises(DataValidationError, match="whole number of frames"):
        run(tmp_path / "dnv", tmp_path, tr=0.25, subjects=["1"])


def test_layout_errors_are_named(tmp_path):
    root = tmp_path / "dnv"
    write_dnv(root)
    with pytest.raises(DataValidationError, match="series step"):
        run(root, tmp_path, tr=1.5)
    with pytest.raises(DataValidationError, match="no such folder"):
        run(root, tmp_path, subjects=["1", "3"])
    (root / "subject2" / "fmri" / "test1" / "cifti" / "test1_1_Atlas.dtseries.nii").rename(
        root / "subject2" / "fmri" / "test1" / "cifti" / "test1_1.nii")
    for path in (root / "subject2" / "fmri" / "test1" / "cifti").glob("*Atlas*"):
        path.unlink()
    with pytest.raises(DataValidationError, match="segments of the first subject"):
        run(root, tmp_path)
    (root / "stimuli" / "seg1.mp4").unlink()
    with pytest.raises(DataValidationError, match="movie of segment seg1"):
        run(root, tmp_path, subjects=["1"])


def test_one_job_per_subject_then_the_gather_is_the_single_process_folders(tmp_path):
    """load_dnv (the movies) and load_dnv_subject per subject, then load_dnv_responses, write the
    bytes export_dnv writes in one process."""
    write_dnv(tmp_path / "dnv")
    run(tmp_path / "dnv", tmp_path / "whole")
    fanned = tmp_path / "fanned"
    load_dnv(root=tmp_path / "dnv", videos=fanned / "videos", settings=SETTINGS, flow=FLOW, device="cpu")
    parts = []
    for subject in SETTINGS["subjects"]:
        parts.append(str(fanned / "parts" / f"{subject}.h5"))
        load_dnv_subject(root=tmp_path / "dnv", subject=subject, responses=parts[-1], settings={"tr": TR},
                         reference=SETTINGS["subjects"][0])
    load_dnv_responses(parts=parts, brain=fanned / "brain")
    for folder in ("videos", "brain"):
        names = sorted(path.name for path in (tmp_path / "whole" / folder).iterdir())
        assert names == sorted(path.name for path in (fanned / folder).iterdir())
        for name in names:
            assert (tmp_path / "whole" / folder / name).read_bytes() == (fanned / folder / name).read_bytes(), name
