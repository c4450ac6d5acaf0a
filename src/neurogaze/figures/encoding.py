"""Encoding accuracy on the brain: per-voxel values back to a NIfTI volume, glass brains, fsaverage5."""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import nibabel as nib
import numpy as np
from nilearn import plotting

from neurogaze.config import from_section
from neurogaze.data.contracts import read_brain_responses, read_metrics
from neurogaze.errors import DataValidationError
from neurogaze.figures.style import neurogaze_style, plt, save_figure
from neurogaze.io import atomic_path


def metric_volume(values: np.ndarray, responses, fill: float = 0.0) -> nib.Nifti1Image:
    """Put one value per unit at its voxel (``voxel_ijk``) of the subject's volume (``mask`` grid, ``affine``)."""
    values = np.asarray(values, dtype=np.float32)
    if responses.voxel_ijk is None or responses.affine is None:
        raise DataValidationError(None, "voxel_ijk", "voxel coordinates and an affine to map units to a volume")
    if values.shape != (responses.n_units,):
        raise DataValidationError(None, "values", f"one value per unit ({responses.n_units})", values.shape)
    shape = responses.mask.shape if responses.mask is not None else tuple(responses.voxel_ijk.max(0) + 1)
    volume = np.full(shape, fill, dtype=np.float32)
    i, j, k = np.asarray(responses.voxel_ijk, dtype=int).T
    volume[i, j, k] = np.nan_to_num(values, nan=fill)
    return nib.Nifti1Image(volume, np.asarray(responses.affine, dtype=np.float64))


def write_nifti(path, image: nib.Nifti1Image) -> None:
    """Write .nii or .nii.gz atomically; gzip without a timestamp so reruns are byte-identical."""
    payload = image.to_bytes()
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    with atomic_path(path) as temp:
        temp.write_bytes(payload)


def plot_glass_brain(image: nib.Nifti1Image, title: str, vmax: float | None = None, threshold: float = 0.0):
    """Maximum-intensity projections of a voxel map (nilearn); returns the matplotlib figure."""
    with neurogaze_style():
        figure = plt.figure(figsize=(7.0, 2.6))
        data = np.asarray(image.dataobj)
        vmax = vmax or float(np.nanmax(np.abs(data))) or 1.0
        plotting.plot_glass_brain(
            image,
            figure=figure,
            title=title,
            colorbar=True,
            plot_abs=False,
            cmap="cold_hot",
            vmin=-vmax,
            vmax=vmax,
            threshold=threshold,
        )
    return figure


def plot_fsaverage(image: nib.Nifti1Image, title: str, vmax: float | None = None, threshold: float = 1e-3):
    """The map projected onto nilearn's shipped fsaverage5 (inflated; lateral, medial, ventral views).

    Meaningful for maps in MNI space; a subject-space map lands wherever its affine puts it.
    """
    data = np.asarray(image.dataobj)
    vmax = vmax or float(np.nanmax(np.abs(data))) or 1.0
    with neurogaze_style():
        figure, _ = plotting.plot_img_on_surf(
            image,
            surf_mesh="fsaverage5",
            views=["lateral", "medial", "ventral"],
            hemispheres=["left", "right"],
            inflate=True,
            threshold=threshold,
            vmax=vmax,
            cmap="cold_hot",
            title=title,
            colorbar=True,
        )
    return figure


def plot_accuracy_by_roi(table, rois: dict[str, np.ndarray], metric: str = "r_over_nc"):
    """Bar chart of a metric's median per ROI (units named by their index in the responses)."""
    values = table.loc[table["metric"] == metric].sort_values("unit")["value"].to_numpy()
    names = sorted(rois)
    medians = [np.nanmedian(values[rois[name]]) if rois[name].any() else np.nan for name in names]
    with neurogaze_style():
        figure, axis = plt.subplots(figsize=(max(3.0, 0.5 * len(names) + 1.5), 2.6))
        axis.bar(names, medians)
        axis.set_ylabel(f"median {metric}")
        axis.tick_params(axis="x", rotation=45)
    return figure


@dataclass(frozen=True)
class AccuracyMapConfig:
    """The accuracy map (``encoding.figure``): which metric, and a glass brain or fsaverage5."""

    metric: str = "r_over_nc"
    surface: bool = False


def plot(*, metrics, responses, nifti, figure, settings: dict, dataset: str, subject: str) -> None:
    """Rule ``encoding_plot``: one subject's accuracy map as a NIfTI volume in the subject's space
    (``nifti``) and a glass brain, or nilearn's fsaverage5 surface (``figure``)."""
    config = from_section(AccuracyMapConfig, settings, "encoding.figure")
    table = read_metrics(metrics)
    rows = table.loc[table["metric"] == config.metric].sort_values("unit")
    if rows.empty:
        raise DataValidationError(metrics, "metric", f"rows with metric {config.metric!r}",
                                  sorted(set(table["metric"])))
    image = metric_volume(rows["value"].to_numpy(), read_brain_responses(responses))
    write_nifti(nifti, image)
    label = f"{dataset} {subject} test {config.metric}"
    drawn = (
        plot_fsaverage(image, label)
        if config.surface
        else plot_glass_brain(image, label, vmax=1.0 if config.metric == "r_over_nc" else None)
    )
    save_figure(drawn, figure)
