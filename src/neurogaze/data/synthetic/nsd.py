"""An NSD-like data set with planted voxel selectivity, written in the released NSD layout.

The folder it writes is read by ``neurogaze.data.nsd`` exactly like the real one (see that
module for the layout). What is planted goes to ``ground_truth.json`` (+ an ``.npz`` with the
arrays) so tests and methods can check recovery:

* the images are mostly scenes of the demo world (``world.scene``: named objects on places), each
  seen in random focus with its place under a light of random warmth, mixed with controlled
  gratings (``image_mix``), so that warmth and spatial frequency vary apart from what a scene
  shows (without the light and blur, spatial frequency would track scene vs grating at r ~ 0.7);
  the ground truth lists every scene's background, objects (noun, category, box) and captions;
* every voxel of the nsdgeneral mask responds to a weighted sum of *base signals*, each
  standardised over all images of the brick: the *concepts* ``face``, ``text``, ``animal``,
  ``food`` (the share of the image covered by objects of that category) and ``place`` (the share
  no object covers), the pixel attributes ``warmth`` (mean R - mean B), ``vertical_energy`` and
  ``spatial_frequency`` (log(1 + power-weighted mean frequency)), and ``feature_<j>``:
  projections of a named backbone's embedding on fixed random directions;
* named ROIs (``faces``, ``words``, ``animals``, ``food``, ``places``, ``warm``, ``vertical``,
  ``spatial_frequency``, ``feature``, ``unselective``) are compact blobs that respond to one
  signal (or, for ``unselective``, to nothing); the remaining voxels respond weakly to random
  mixtures. The category localiser files name the concept ROIs as NSD does (FFA-1, VWFA-1, PPA);
* a trial's beta (percent signal change) = baseline + session drift + a * signal + noise with
  noise SD a / ncsnr, so the ncsnr written to ``ncsnr.nii.gz`` is the true one and the noise
  ceiling (in Pearson r) of an n-repeat average is sqrt(ncsnr^2 / (ncsnr^2 + 1/n)).

The backbone enters as an injected callable ``images (n, h, w, 3) uint8 -> (n, d)``, so tests
can use a fixed random projection of pixels (``random_pixel_features``) and the pipeline the
configured backbone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
from nilearn.datasets import load_mni152_brain_mask
from PIL import Image
from tqdm import tqdm

from neurogaze.config import from_section
from neurogaze.data.nsd import BETA_SCALE, NSDLayout, stim_id
from neurogaze.data.synthetic.images import (
    CONCEPTS,
    concept_shares,
    image_attributes,
    make_stimuli,
)
from neurogaze.features.image import as_backbone, embed_images
from neurogaze.io import atomic_directory, write_json, write_mat
from neurogaze.runlog import derive_seed

FeatureFn = Callable[[np.ndarray], np.ndarray]

PIXEL_SIGNALS = ("warmth", "vertical_energy", "spatial_frequency")
ATTRIBUTE_SIGNALS = CONCEPTS + PIXEL_SIGNALS
PLANTED_ROIS = {  # ROI name -> the base signal it responds to (None: feature directions / none)
    "faces": "face",
    "words": "text",
    "animals": "animal",
    "food": "food",
    "places": "place",
    "warm": "warmth",
    "vertical": "vertical_energy",
    "spatial_frequency": "spatial_frequency",
    "feature": None,
    "unselective": None,
}
PLANTED_LABELS = {name: value for value, name in enumerate(PLANTED_ROIS, start=1)}
# The label tables NSD ships for its functional ROIs (value 0 is "Unknown").
NSD_LABELS = {
    "prf-visualrois": ["V1v", "V1d", "V2v", "V2d", "V3v", "V3d", "hV4"],
    "floc-faces": ["OFA", "FFA-1", "FFA-2", "mTL-faces", "aTL-faces"],
    "floc-bodies": ["EBA", "FBA-1", "FBA-2", "mTL-bodies"],
    "floc-places": ["OPA", "PPA", "RSC"],
    "floc-words": ["OWFA", "VWFA-1", "VWFA-2", "mfs-words", "mTL-words"],
}
GROUND_TRUTH = "ground_truth.json"
GROUND_TRUTH_ARRAYS = "ground_truth_arrays.npz"


@dataclass
class NSDSyntheticConfig:
    """Sizes of the synthetic set; the defaults are the 2-core demo."""

    n_subjects: int = 1
    n_images: int = 240  # distinct images per subject (columns of subjectim)
    n_shared: int = 60  # images every subject sees: the test split
    repeats: int = 3  # presentations of each image
    n_sessions: int = 3
    n_extra_images: int = 0  # brick images nobody sees (the real brick has 73k for 8 x 10k)
    image_size: int = 64
    voxel_size_mm: int = 6  # grid: nilearn's MNI152 brain mask at this resolution
    n_mask_voxels: int = 1500  # nsdgeneral: the most posterior brain voxels
    # world scenes, with gratings whose orientation and spatial frequency vary apart from any content
    image_mix: dict[str, float] = field(
        default_factory=lambda: {"scene": 0.75, "grating": 0.25, "colour": 0.0, "photo": 0.0, "face": 0.0,
                                 "nonface": 0.0}
    )
    scene_light: float = 0.3  # each scene's place lit with red/blue gains 1 +- c, |c| <= scene_light
    scene_blur_sigma: tuple[float, float] = (0.0, 2.0)  # each scene's focus: Gaussian blur sigma, px
    roi_sizes: dict[str, int] = field(
        default_factory=lambda: {
            "faces": 60,
            "words": 60,
            "animals": 60,
            "food": 60,
            "places": 60,
            "warm": 60,
            "vertical": 60,
            "spatial_frequency": 60,
            "feature": 240,
            "unselective": 40,
        }
    )
    n_feature_directions: int = 16  # random directions of the backbone's space
    ncsnr_range: tuple[float, float] = (0.6, 1.6)  # planted ROIs
    background_ncsnr_range: tuple[float, float] = (0.1, 0.5)  # the other nsdgeneral voxels
    signal_psc: float = 1.5  # signal SD in percent signal change
    session_drift_psc: float = 0.5  # per-session per-voxel offset SD

    @property
    def n_trials(self) -> int:
        return self.n_images * self.repeats

    @property
    def trials_per_session(self) -> int:
        return self.n_trials // self.n_sessions

    @property
    def n_brick(self) -> int:
        return self.n_shared + self.n_subjects * (self.n_images - self.n_shared) + self.n_extra_images

    def check(self) -> NSDSyntheticConfig:
        if not 0 < self.n_shared <= self.n_images:
            raise ValueError(f"n_shared must be in 1..n_images ({self.n_images}), not {self.n_shared}")
        if self.n_trials % self.n_sessions:
            raise ValueError(
                f"n_images x repeats ({self.n_trials}) must split evenly into n_sessions ({self.n_sessions})"
            )
        unknown = set(self.roi_sizes) - set(PLANTED_ROIS)
        if unknown:
            raise ValueError(f"unknown planted ROIs {sorted(unknown)}; known: {list(PLANTED_ROIS)}")
        if sum(self.roi_sizes.values()) > self.n_mask_voxels:
            raise ValueError(f"planted ROIs ({sum(self.roi_sizes.values())} voxels) exceed n_mask_voxels")
        return self


def random_pixel_features(dim: int = 32, pool: int = 8, seed: int = 0) -> FeatureFn:
    """A stand-in backbone: a fixed random projection of ``pool`` x ``pool`` average-pooled pixels."""

    def features(images: np.ndarray) -> np.ndarray:

        small = (
            np.stack(
                [
                    np.asarray(
                        Image.fromarray(np.asarray(img, dtype=np.uint8)).resize((pool, pool), Image.Resampling.BOX)
                    )
                    for img in images
                ]
            ).reshape(len(images), -1)
            / 255.0
        )
        projection = np.random.default_rng(seed).standard_normal((small.shape[1], dim)) / np.sqrt(small.shape[1])
        return (small @ projection).astype(np.float32)

    return features


# ---------------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------------


def base_signals(
    images: np.ndarray,
    concepts: dict[str, np.ndarray],
    feature_fn: FeatureFn | None,
    n_directions: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[str], dict]:
    """Standardised base signals (n_images, K), their names, and how to recompute them.
    ``concepts`` holds each concept's share of every image (``images.concept_shares``)."""
    attributes = {**{name: np.zeros(len(images)) for name in CONCEPTS}, **image_attributes(images), **concepts}
    attributes["spatial_frequency"] = _log_frequency(attributes["spatial_frequency"])
    raw = [np.asarray(attributes[name], dtype=float) for name in ATTRIBUTE_SIGNALS]
    names = list(ATTRIBUTE_SIGNALS)
    recipe: dict = {}
    if feature_fn is not None and n_directions > 0:
        features = np.asarray(feature_fn(images), dtype=np.float64)
        if features.ndim != 2 or features.shape[0] != len(images):
            raise ValueError(f"feature_fn must return (n_images, d); got {features.shape}")
        directions = rng.standard_normal((n_directions, features.shape[1]))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        feature_mean = features.mean(axis=0)
        raw += list(((features - feature_mean) @ directions.T).T)
        names += [f"feature_{j}" for j in range(n_directions)]
        recipe.update(feature_mean=feature_mean, feature_directions=directions, feature_dim=features.shape[1])
    raw = np.stack(raw, axis=1)
    if not np.all(np.isfinite(raw)):
        bad = [names[k] for k in np.flatnonzero(~np.isfinite(raw).all(axis=0))]
        raise ValueError(f"non-finite base signals {bad} (check feature_fn's output)")
    mean, sd = raw.mean(axis=0), raw.std(axis=0)
    sd[sd == 0] = 1.0
    recipe.update(signal_mean=mean, signal_sd=sd)
    return (raw - mean) / sd, names, recipe


def _log_frequency(frequency: np.ndarray) -> np.ndarray:
    # log(1 + f): flat images have no non-DC power and a frequency of 0.
    return np.log1p(frequency)


def _voxel_weights(roi_of_voxel: np.ndarray, names: list[str], rng: np.random.Generator) -> np.ndarray:
    """Weights (n_voxels, K) over the base signals, scaled so each voxel's signal has unit SD."""
    is_feature = np.asarray([name.startswith("feature_") for name in names])
    weights = np.zeros((roi_of_voxel.size, len(names)))
    for voxel, roi in enumerate(roi_of_voxel):
        if roi == "unselective":
            continue
        if roi == "feature":
            weights[voxel, is_feature] = rng.standard_normal(int(is_feature.sum()))  # a random direction
        elif roi in PLANTED_ROIS:
            weights[voxel, names.index(PLANTED_ROIS[roi])] = 1.0
        else:  # background: a weak random mixture of everything
            weights[voxel] = rng.standard_normal(len(names))
    return weights


def planted_signal(weights: np.ndarray, signals: np.ndarray) -> np.ndarray:
    """Noiseless responses (n_images, n_voxels) in signal-SD units."""
    return signals @ weights.T


# ---------------------------------------------------------------------------------------------
# Volumes and ROIs
# ---------------------------------------------------------------------------------------------


def func_grid(voxel_size_mm: int) -> tuple[np.ndarray, np.ndarray]:
    """A func-like brain mask and affine: nilearn's MNI152 brain mask at ``voxel_size_mm``."""

    image = load_mni152_brain_mask(resolution=int(voxel_size_mm))
    return np.asarray(image.get_fdata()) > 0, image.affine


def _posterior_mask(brain: np.ndarray, affine: np.ndarray, n_voxels: int) -> np.ndarray:
    ijk = np.argwhere(brain)
    y_mm = nib.affines.apply_affine(affine, ijk)[:, 1]
    if n_voxels > len(ijk):
        raise ValueError(f"n_mask_voxels ({n_voxels}) exceeds the {len(ijk)} brain voxels of this grid")
    chosen = ijk[np.argsort(y_mm, kind="stable")[:n_voxels]]
    mask = np.zeros_like(brain)
    mask[tuple(chosen.T)] = True
    return mask


def _grow_blobs(coords: np.ndarray, sizes: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    """Assign compact blobs: each ROI takes the free voxels nearest to a random free seed."""
    labels = np.full(len(coords), "", dtype=object)
    for name, size in sizes.items():
        free = np.flatnonzero(labels == "")
        seed = coords[free[rng.integers(len(free))]]
        nearest = free[np.argsort(np.linalg.norm(coords[free] - seed, axis=1), kind="stable")[:size]]
        labels[nearest] = name
    return labels


def _label_volume(brain: np.ndarray, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    # NSD's func-space ROI files: -1 outside the brain, 0 unlabelled, >0 labels.
    volume = np.where(brain, 0, -1).astype(np.int16)
    volume[mask] = values
    return volume


def _nsd_roi_values(coords_mm: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Label values (over mask voxels) for NSD's functional ROI files."""
    y, z = coords_mm[:, 1], coords_mm[:, 2]
    # pRF visual areas: posterior bands along y, ventral/dorsal halves around the median z.
    prf = np.zeros(len(coords_mm), dtype=np.int16)
    rank = np.empty(len(y), dtype=int)
    rank[np.lexsort((z, y))] = np.arange(len(y))
    band = np.minimum(rank * 10 // len(y), 4)  # 0 (most posterior tenth) .. 4 (the anterior 60 %)
    dorsal = z > np.median(z)
    for area in range(3):  # V1, V2, V3: v = 2 * area + 1, d = 2 * area + 2
        prf[(band == area) & ~dorsal] = 2 * area + 1
        prf[(band == area) & dorsal] = 2 * area + 2
    prf[band == 3] = 7  # hV4
    out = {"prf-visualrois": prf}
    # the planted concept voxels as the localiser's FFA-1, VWFA-1 and PPA (value 2 of each file)
    for file, roi in (("floc-faces", "faces"), ("floc-words", "words"), ("floc-places", "places")):
        out[file] = np.where(labels == roi, 2, 0).astype(np.int16)
    anterior = (band == 4) & (labels == "")
    body_floor = np.quantile(z[anterior], 2 / 3) if anterior.any() else 0
    out["floc-bodies"] = np.where(anterior & (z > body_floor), 1, 0).astype(np.int16)  # EBA: no bodies planted
    return out


def _write_ctab(path: Path, labels: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{value} {name}\n" for value, name in enumerate(["Unknown", *labels])))


def _save_nifti(path: Path, data: np.ndarray, affine: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(data, affine)
    image.header.set_data_dtype(data.dtype)
    image.header.set_xyzt_units("mm")
    nib.save(image, path)


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------


def generate_nsd_like(
    out_dir: str | os.PathLike,
    config: NSDSyntheticConfig | None = None,
    feature_fn: FeatureFn | None = None,
    seed: int = 0,
    backbone_name: str | None = None,
    progress: bool = True,
) -> dict:
    """Write an NSD-like root to ``out_dir`` (atomically) and return its ground truth."""
    config = (config or NSDSyntheticConfig()).check()
    if feature_fn is None and config.roi_sizes.get("feature", 0):
        raise ValueError("planting 'feature' voxels needs a feature_fn (or roi_sizes['feature'] = 0)")
    rngs = {name: np.random.default_rng(derive_seed(seed, "nsd", name)) for name in ("images", "design", "voxels")}
    stimuli = make_stimuli(config.n_brick, config.image_size, rngs["images"], config.image_mix, config.scene_light,
                           config.scene_blur_sigma)
    images = np.stack([item.image for item in stimuli])
    kinds = [item.kind for item in stimuli]
    signals, signal_names, recipe = base_signals(
        images, concept_shares(stimuli), feature_fn, config.n_feature_directions, rngs["voxels"]
    )
    design = _design(config, rngs["design"])
    brain, affine = func_grid(config.voxel_size_mm)
    truth = {
        "generator": "neurogaze.data.synthetic.nsd.generate_nsd_like",
        "seed": seed,
        "config": asdict(config),
        "backbone": backbone_name,
        "signals": signal_names,
        "noise_ceiling": "Pearson r of an n-repeat average: sqrt(ncsnr^2 / (ncsnr^2 + 1/n))",
        "grid": {"shape": list(brain.shape), "affine": affine, "voxel_size_mm": config.voxel_size_mm},
        "stimuli": {
            "stim_id": [stim_id(i) for i in range(1, config.n_brick + 1)],
            "kind": kinds,
            **{name: signals[:, k] for k, name in enumerate(signal_names) if name in ATTRIBUTE_SIGNALS},
        },
        # what each scene shows, by brick row (73k id - 1); None for controlled images
        "scenes": [_scene_record(item) for item in stimuli],
        "rois": {name: PLANTED_ROIS[name] or name for name in config.roi_sizes},
        "arrays": GROUND_TRUTH_ARRAYS,
        "subjects": {},
    }
    arrays = {key: value for key, value in recipe.items() if isinstance(value, np.ndarray)}
    arrays["signals"] = signals.astype(np.float32)  # (n_brick, K), row = 73k id - 1
    with atomic_directory(out_dir) as temp:
        layout = NSDLayout(temp)
        _write_design(layout, design, config)
        _write_brick(layout, images)
        for s in range(config.n_subjects):
            subject = f"subj{s + 1:02d}"
            rng = np.random.default_rng(derive_seed(seed, "nsd", subject))
            voxels = _write_subject(
                layout, subject, s, config, design, brain, affine, signals, signal_names, rng, progress
            )
            truth["subjects"][subject] = voxels.pop("summary")
            arrays.update({f"{subject}_{key}": value for key, value in voxels.items()})
        np.savez_compressed(temp / GROUND_TRUTH_ARRAYS, **arrays)
        write_json(temp / GROUND_TRUTH, truth)
    return truth


def _scene_record(item) -> dict | None:
    if item.kind != "scene":
        return None
    objects = [{key: obj[key] for key in ("noun", "category", "colour", "size", "position", "bbox")}
               for obj in item.params["objects"]]
    return {"background": item.params["background"], "objects": objects, "captions": item.params["captions"]}


def _design(config: NSDSyntheticConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    # 73k-like ids: a random permutation of brick rows, so shared images are scattered in the
    # brick as in NSD; shared images take the first n_shared columns of every subject.
    ids = rng.permutation(config.n_brick) + 1
    shared, rest = ids[: config.n_shared], ids[config.n_shared :]
    per_subject = config.n_images - config.n_shared
    subjectim = np.stack(
        [np.concatenate([shared, rest[s * per_subject : (s + 1) * per_subject]]) for s in range(config.n_subjects)]
    )
    masterordering = rng.permutation(np.repeat(np.arange(1, config.n_images + 1), config.repeats))
    return {"masterordering": masterordering, "subjectim": subjectim, "sharedix": np.sort(shared)}


def _write_design(layout: NSDLayout, design: dict, config: NSDSyntheticConfig) -> None:
    layout.expdesign.parent.mkdir(parents=True, exist_ok=True)
    # MATLAB stores these as double row vectors / matrices; keep that so the loader sees the same.
    write_mat(
        layout.expdesign,
        {
            "masterordering": design["masterordering"][None, :].astype(np.float64),
            "subjectim": design["subjectim"].astype(np.float64),
            "sharedix": design["sharedix"][None, :].astype(np.float64),
            "basiccnt": np.full((3, config.n_sessions), np.nan),
        },
        do_compression=True,
    )


def _write_brick(layout: NSDLayout, images: np.ndarray) -> None:
    layout.stimuli.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(layout.stimuli, "w") as handle:
        handle.create_dataset("imgBrick", data=images, chunks=(1, *images.shape[1:]))


def _write_subject(layout, subject, s, config, design, brain, affine, signals, signal_names, rng, progress) -> dict:
    mask = _posterior_mask(brain, affine, config.n_mask_voxels)
    ijk = np.argwhere(mask)
    coords_mm = nib.affines.apply_affine(affine, ijk)
    labels = _grow_blobs(coords_mm, config.roi_sizes, rng)
    weights = _voxel_weights(labels, signal_names, rng)
    unit = planted_signal(weights, signals)
    sd = unit.std(axis=0)
    weights[sd > 0] /= sd[sd > 0, None]
    planted = labels != ""
    ncsnr = np.where(
        planted, rng.uniform(*config.ncsnr_range, len(labels)), rng.uniform(*config.background_ncsnr_range, len(labels))
    )
    ncsnr[labels == "unselective"] = 0.0
    amplitude = config.signal_psc * rng.uniform(0.7, 1.3, len(labels))
    noise_sd = np.where(ncsnr > 0, amplitude / np.maximum(ncsnr, 1e-12), amplitude)
    amplitude[labels == "unselective"] = 0.0

    _write_rois(layout, subject, brain, mask, affine, coords_mm, labels)
    ncsnr_volume = np.zeros(brain.shape, dtype=np.float32)
    ncsnr_volume[mask] = ncsnr
    _save_nifti(layout.ncsnr(subject), ncsnr_volume, affine)
    _write_betas(
        layout, subject, s, config, design, brain, mask, affine, signals, weights, amplitude, noise_sd, rng, progress
    )

    repeats = config.repeats
    summary = {
        "n_voxels": int(mask.sum()),
        "roi_counts": {name: int((labels == name).sum()) for name in config.roi_sizes},
        "voxels": {
            "ijk": ijk,
            "roi": [label or "background" for label in labels],
            "ncsnr": ncsnr.round(6),
            "noise_ceiling_r": np.sqrt(ncsnr**2 / (ncsnr**2 + 1 / repeats)).round(6),
            "signal_sd_psc": amplitude.round(6),
            "noise_sd_psc": noise_sd.round(6),
        },
    }
    return {"summary": summary, "weights": weights, "ijk": ijk, "ncsnr": ncsnr}


def _write_rois(layout, subject, brain, mask, affine, coords_mm, labels) -> None:
    _save_nifti(layout.roi(subject, "nsdgeneral"), _label_volume(brain, mask, 1), affine)
    _write_ctab(layout.ctab(subject, "nsdgeneral"), ["nsdgeneral"])
    for name, values in _nsd_roi_values(coords_mm, labels).items():
        _save_nifti(layout.roi(subject, name), _label_volume(brain, mask, values), affine)
        _write_ctab(layout.ctab(subject, name), NSD_LABELS[name])
    planted = np.asarray([PLANTED_LABELS.get(label, 0) for label in labels], dtype=np.int16)
    _save_nifti(layout.roi(subject, "planted"), _label_volume(brain, mask, planted), affine)
    _write_ctab(layout.ctab(subject, "planted"), list(PLANTED_ROIS))


def _write_betas(
    layout, subject, s, config, design, brain, mask, affine, signals, weights, amplitude, noise_sd, rng, progress
):
    n_brain_other = int((brain & ~mask).sum())
    baseline = rng.uniform(-0.5, 1.5, mask.sum())
    tps = config.trials_per_session
    row_of_id = design["subjectim"][s] - 1  # brick rows of this subject's images
    for session in tqdm(range(1, config.n_sessions + 1), desc=f"synthetic NSD {subject}", disable=not progress):
        columns = design["masterordering"][(session - 1) * tps : session * tps] - 1
        rows = row_of_id[columns]
        drift = rng.normal(0, config.session_drift_psc, mask.sum())
        signal = planted_signal(weights, signals[rows]) * amplitude
        betas = baseline + drift + signal + rng.standard_normal(signal.shape) * noise_sd
        volume = np.zeros((*brain.shape, tps), dtype=np.int16)
        volume[mask] = _to_int16(betas.T)
        # Brain voxels outside nsdgeneral carry noise only, as real betas do beyond the ROI.
        volume[brain & ~mask] = _to_int16(rng.normal(0, config.signal_psc, (n_brain_other, tps)))
        _save_nifti(layout.betas_dir(subject) / f"betas_session{session:02d}.nii.gz", volume, affine)


def _to_int16(psc: np.ndarray) -> np.ndarray:
    return np.clip(np.round(psc * BETA_SCALE), -32768, 32767).astype(np.int16)


def signals_for_images(
    images: np.ndarray,
    arrays: dict[str, np.ndarray],
    feature_fn: FeatureFn | None = None,
    concepts: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The standardised base signals (n, K) of new images, as the generator defined them.

    ``arrays`` come from ``read_ground_truth``; ``feature_fn`` must be the backbone used at
    generation when feature signals were planted; ``concepts`` gives each concept's share of
    every image (``images.concept_shares``; a concept left out is 0 throughout).
    """
    images = np.asarray(images)
    attributes = image_attributes(images)
    attributes["spatial_frequency"] = _log_frequency(attributes["spatial_frequency"])
    shares = concepts or {}
    raw = [np.asarray(shares.get(name, np.zeros(len(images))), dtype=float) for name in CONCEPTS]
    raw += [attributes[name] for name in PIXEL_SIGNALS]
    if "feature_directions" in arrays:
        if feature_fn is None:
            raise ValueError("this ground truth planted feature signals: pass the same feature_fn")
        features = np.asarray(feature_fn(images), dtype=np.float64) - arrays["feature_mean"]
        raw += list((features @ arrays["feature_directions"].T).T)
    return (np.stack(raw, axis=1) - arrays["signal_mean"]) / arrays["signal_sd"]


def read_ground_truth(root: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """The JSON ground truth and its arrays (weights per subject, feature directions ...)."""
    import json

    root = Path(root)
    truth = json.loads((root / GROUND_TRUTH).read_text())
    with np.load(root / truth["arrays"]) as arrays:
        return truth, {key: arrays[key] for key in arrays.files}


def backbone_feature_fn(backbone_spec: dict, batch_size: int = 64) -> FeatureFn:
    """The embedding of a backbone (``neurogaze.features``), on the CPU for exact repeats."""

    model = as_backbone(backbone_spec, "cpu")
    return lambda images: embed_images(model, list(images), batch_size=batch_size, device="cpu")


def generate_from_config(
    out_dir: str | os.PathLike,
    synthetic: dict,
    backbone_spec: dict | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """``generate_nsd_like`` from the config's ``datasets.nsd.synthetic`` block and a backbone spec.

    Without a backbone no 'feature' voxels are planted (their share goes to the background).
    """

    config = from_section(NSDSyntheticConfig, synthetic, "datasets.nsd.synthetic")
    if backbone_spec is None:
        config = replace(config, roi_sizes={**config.roi_sizes, "feature": 0})
    feature_fn = backbone_feature_fn(backbone_spec) if backbone_spec else None
    name = backbone_spec["name"] if backbone_spec else None
    return generate_nsd_like(out_dir, config, feature_fn, seed=seed, backbone_name=name, progress=progress)
