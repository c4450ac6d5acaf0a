"""Encoding accuracy maps: values land on their voxels; the NIfTI and the figures are written."""

import dataclasses

import nibabel as nib
import numpy as np
import pytest

from neurogaze.config import schema_defaults
from neurogaze.data.contracts import BrainResponses, write_brain_responses, write_metrics
from neurogaze.errors import DataValidationError
from neurogaze.figures.encoding import AccuracyMapConfig, metric_volume, plot, plot_fsaverage
from neurogaze.figures.style import save_figure
from neurogaze.metrics.encoding import encoding_metric_table


@pytest.fixture
def responses():
    """A 6 mm MNI-like grid with a block of 'visual cortex' voxels."""
    affine = np.array([[6.0, 0, 0, -90], [0, 6, 0, -126], [0, 0, 6, -72], [0, 0, 0, 1]])
    mask = np.zeros((31, 37, 31), dtype=bool)
    mask[10:20, 3:8, 8:14] = True
    ijk = np.argwhere(mask)
    rng = np.random.default_rng(0)
    n = len(ijk)
    return BrainResponses(
        responses=rng.normal(size=(20, n)).astype(np.float32),
        stim_ids=np.array([f"s{i}" for i in range(20)]),
        split=np.array(["train", "test"] * 10),
        noise_ceiling=np.full(n, 0.8, np.float32),
        voxel_ijk=ijk,
        affine=affine,
        mask=mask,
    )


def test_metric_volume_puts_each_value_at_its_voxel(responses):
    values = np.arange(responses.n_units, dtype=np.float32)
    image = metric_volume(values, responses)
    data = np.asarray(image.dataobj)
    i, j, k = responses.voxel_ijk[7]
    assert data[i, j, k] == 7 and data[~responses.mask].max() == 0
    np.testing.assert_array_equal(image.affine, responses.affine)
    with pytest.raises(DataValidationError, match="one value per unit"):
        metric_volume(values[:-1], responses)


def test_plot_writes_map_and_glass_brain(tmp_path, responses):
    write_brain_responses(tmp_path / "subj01.h5", responses)
    y = responses.responses[:10]
    pred = y + np.random.default_rng(1).normal(size=y.shape)
    write_metrics(tmp_path / "metrics.csv", encoding_metric_table(y, pred, responses.noise_ceiling, "encoding", "nsd"))
    files = {"metrics": tmp_path / "metrics.csv", "responses": tmp_path / "subj01.h5",
             "nifti": tmp_path / "r_over_nc.nii.gz", "figure": tmp_path / "accuracy.png"}
    settings = {"metric": "r_over_nc", "surface": False}
    plot(**files, settings=settings, dataset="nsd", subject="subj01")
    assert files["figure"].stat().st_size > 1000
    assert nib.load(files["nifti"]).shape == responses.mask.shape
    first = files["nifti"].read_bytes()
    plot(**files, settings=settings, dataset="nsd", subject="subj01")
    assert files["nifti"].read_bytes() == first
    with pytest.raises(DataValidationError, match="metric"):
        plot(**files, settings={**settings, "metric": "auc"}, dataset="nsd", subject="subj01")


def test_config_defaults_are_the_schemas():
    assert schema_defaults("encoding.figure") == dataclasses.asdict(AccuracyMapConfig())


def test_fsaverage_plot_uses_nilearns_shipped_surfaces(tmp_path, responses):
    image = metric_volume(np.linspace(0, 1, responses.n_units), responses)
    save_figure(plot_fsaverage(image, "test"), tmp_path / "surface.png")
    assert (tmp_path / "surface.png").stat().st_size > 1000
