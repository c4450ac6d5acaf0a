"""A tiny dataset in the Dynamic Natural Vision layout (neurogaze.data.dnv): two segments (seg1
shown twice, test1 three times) of 4 TRs, CIFTI runs per repeat and grey-ramp movies."""

import imageio.v3 as iio
import nibabel as nib
import numpy as np

FPS, TR, N_TRS, VOXELS = 6, 2.0, 4, 5  # 12 movie frames per TR


def write_run(path, data, tr=TR):
    path.parent.mkdir(parents=True, exist_ok=True)
    series = nib.cifti2.SeriesAxis(start=0.0, step=tr, size=len(data))
    brain = nib.cifti2.BrainModelAxis.from_mask(np.ones(data.shape[1], bool), name="CIFTI_STRUCTURE_CORTEX_LEFT")
    nib.save(nib.Cifti2Image(data.astype(np.float32), header=(series, brain)), path)


def write_movie(path, n_frames, fps=FPS):
    """Frame k is uniformly grey level 4k: which frames a TR kept can be read off its pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.repeat(4 * np.arange(n_frames, dtype=np.uint8)[:, None, None, None], 3, -1) * np.ones((1, 16, 16, 3),
                                                                                                  np.uint8)
    iio.imwrite(path, frames, fps=fps, codec="libx264", quality=10, macro_block_size=16)


def write_dnv(root, subjects=("1", "2"), tr=TR, n_frames=N_TRS * 12):
    """Segments seg1 (2 repeats) and test1 (3 repeats); each run a scaled, shifted copy of the
    segment's signal plus a little noise, so z-scoring per run recovers the signal."""
    rng = np.random.default_rng(0)
    signal = {segment: rng.standard_normal((N_TRS, VOXELS)) for segment in ("seg1", "test1")}
    for segment, repeats in (("seg1", 2), ("test1", 3)):
        write_movie(root / "stimuli" / f"{segment}.mp4", n_frames)
        for subject in subjects:
            for repeat in range(1, repeats + 1):
                run = rng.uniform(0.5, 2) * (signal[segment] + 0.01 * rng.standard_normal(signal[segment].shape))
                write_run(root / f"subject{subject}" / "fmri" / segment / "cifti" /
                          f"{segment}_{repeat}_Atlas.dtseries.nii", run + rng.uniform(-5, 5), tr)
    return signal
