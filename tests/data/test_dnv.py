"""The Dynamic Natural Vision loader on a tiny set written in its layout: per-TR samples (runs
z-scored, repeats averaged), the frames each TR's flow comes from, and the named errors."""

import imageio.v3 as iio
import nibabel as nib
import numpy as np
import pytest

from neurogaze.data.dnv import load_dnv_subject
from neurogaze.errors import DataValidationError

FPS, TR, N_TRS, VOXELS = 6, 2.0, 4, 5  # 12 movie frames per TR


def write_run(path, data, tr=TR):
    path.parent.mkdir(parents=True, exist_ok=True)
    series = nib.cifti2.SeriesAxis(start=0.0, step=tr, size=len(data))
    brain = nib.cifti2.BrainModelAxis.from_mask(np.ones(data.shape[1], bool), name="CIFTI_STRUCTURE_CORTEX_LEFT")
    nib.save(nib.Cifti2Image(data.astype(np.float32), header=(series, brain)), path)


def write_movie(path, n_frames, fps=FPS):
    """Frame k is uniformly grey level 4k: which frames a TR used can be read off its flow."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.repeat(4 * np.arange(n_frames, dtype=np.uint8)[:, None, None, None], 3, -1) * np.ones((1, 16, 16, 3),
                                                                                                  np.uint8)
    iio.imwrite(path, frames, fps=fps, codec="libx264", quality=10, macro_block_size=16)


def grey_step_flow(frames):
    """A stand-in flow: dx = grey-level step / 4 (frames apart), dy = 0, at every pixel."""
    step = np.diff(frames[..., 0].astype(float).mean(axis=(1, 2))) / 4
    out = np.zeros((len(frames) - 1, *frames.shape[1:3], 2), np.float32)
    out[..., 0] = step[:, None, None]
    return out


@pytest.fixture
def dnv(tmp_path):
    rng = np.random.default_rng(0)
    signal = {segment: rng.standard_normal((N_TRS, VOXELS)) for segment in ("seg1", "test1")}
    for segment in signal:
        write_movie(tmp_path / "stimuli" / f"{segment}.mp4", N_TRS * 12)
        for repeat, (scale, offset) in enumerate([(2.0, 5.0), (0.5, -1.0)], start=1):
            write_run(tmp_path / "subject1" / "fmri" / segment / "cifti" / f"{segment}_{repeat}_Atlas.dtseries.nii",
                      scale * signal[segment] + offset)
    return tmp_path, signal


def test_per_tr_samples(dnv):
    root, signal = dnv
    samples = load_dnv_subject(root, "1", grey_step_flow, tr=TR, per_tr=3, grid=2)
    assert samples.fmri.shape == (2 * N_TRS, VOXELS) and samples.flow.shape == (2 * N_TRS, 2, 2, 2)
    assert list(samples.segment[::N_TRS]) == ["seg1", "test1"] and list(samples.split[::N_TRS]) == ["train", "test"]
    truth = (signal["seg1"] - signal["seg1"].mean(0)) / signal["seg1"].std(0)  # each run's scale and offset removed
    np.testing.assert_allclose(samples.fmri[:N_TRS], truth, atol=1e-5)
    # 3 frames per TR, 4 movie frames apart (offsets 0, 4, 8 of 12): 4 frames per sampled pair, in
    # cells of a 2-cell grid over 16 px
    np.testing.assert_allclose(samples.flow[..., 0], 4 * 2 / 16, atol=0.05)
    np.testing.assert_allclose(samples.first_frames[:, 0, 0, 0], 4 * 12 * np.tile(np.arange(N_TRS), 2), atol=3)


def test_a_movie_shorter_than_its_run_is_named(dnv):
    root, _ = dnv
    write_movie(root / "stimuli" / "test1.mp4", N_TRS * 12 - 5)
    with pytest.raises(DataValidationError, match="as long as its run"):
        load_dnv_subject(root, "1", grey_step_flow, tr=TR, per_tr=3, grid=2)


def test_a_tr_that_does_not_divide_the_frame_rate_is_named(tmp_path):
    write_movie(tmp_path / "stimuli" / "seg1.mp4", 24)
    write_run(tmp_path / "subject1" / "fmri" / "seg1" / "cifti" / "seg1_1_Atlas.dtseries.nii",
              np.ones((4, VOXELS)), tr=0.25)
    with pytest.raises(DataValidationError, match="whole number of frames"):
        load_dnv_subject(tmp_path, "1", grey_step_flow, tr=0.25, per_tr=3, grid=2)


def test_layout_errors_are_named(dnv):
    root, _ = dnv
    with pytest.raises(DataValidationError, match="series step"):
        load_dnv_subject(root, "1", grey_step_flow, tr=1.5, per_tr=3, grid=2)
    with pytest.raises(DataValidationError, match="no such folder"):
        load_dnv_subject(root, "2", grey_step_flow)
    (root / "stimuli" / "seg1.mp4").unlink()
    with pytest.raises(DataValidationError, match="movie of segment seg1"):
        load_dnv_subject(root, "1", grey_step_flow, tr=TR, per_tr=3, grid=2)
