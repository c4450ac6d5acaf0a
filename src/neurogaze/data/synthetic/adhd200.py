"""An ADHD-200-like cohort in the Athena layout, with group differences planted in named regions.

Each subject's scan is built in the common mask (nilearn's MNI152 mask at ``resolution_mm``):
independent AR(1) noise per voxel, a weak global signal, a few large background networks, and,
per named region, one latent slow signal shared by the region's voxels. The loading on that
latent differs by diagnosis, so voxel-wise correlation networks differ in those regions only:
"weaker" regions are less coherent in ADHD (fewer edges among their voxels, lower clustering),
"stronger" ones more. Motion-like confounds with known loadings are added to the data and
written beside it; sites differ in noise level and baseline intensity.

The planted latents lie inside the loader's 0.009-0.08 Hz band (its band-pass keeps ~97 % of
their variance; regressing the six confounds, ~6 of the band's ~34 degrees of freedom in 120
volumes at TR 2 s, takes ~20 % more, as it does from the noise). What the clean scans show: the
broad background networks put the median |r| of voxel pairs near 0.25, so a 1 % density
threshold sits near r = 0.6 and a voxel's degree is mostly near-threshold edges to the rest of
the brain. The within-region edges therefore move the clustering map most (|t| ~ 5 on 33
training subjects with the default couplings); degree and 3-cycle counts move far less.

``ground_truth.json`` lists the regions (centre, radius, voxel indices in mask order, coupling per
group), the subjects' labels and every generator parameter.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from scipy import signal

from neurogaze.data.adhd200 import common_mask
from neurogaze.io import atomic_directory, write_json

GROUND_TRUTH = "ground_truth.json"
SITE_CODES = {"Peking_1": 1, "KKI": 3, "NeuroIMAGE": 4, "NYU": 5, "OHSU": 6, "Pittsburgh": 7, "WashU": 8}


@dataclass
class PlantedRegion:
    name: str
    center_mm: tuple[float, float, float]
    radius_mm: float
    coupling_tdc: float  # loading of the region's voxels on its shared latent, controls
    coupling_adhd: float  # the same in the ADHD group

    @property
    def direction(self) -> str:
        return "weaker_in_adhd" if self.coupling_adhd < self.coupling_tdc else "stronger_in_adhd"


# Loadings 1.0 vs 0.2: the per-voxel group difference must clear a Benjamini-Hochberg mask over
# ~3,700 voxels x 3 maps (|t| >~ 4 with 33 training subjects) with room to spare. With 0.9 vs
# 0.35 the regions' clustering |t| averaged ~4, right at that line, and BH's step-up either took
# most region voxels or collapsed to the mask's 10-voxel minimum, depending on the seed.
DEFAULT_REGIONS = (
    PlantedRegion("posterior_cingulate", (0.0, -52.0, 28.0), 16.0, 1.0, 0.2),
    PlantedRegion("dorsal_anterior_cingulate", (0.0, 24.0, 30.0), 16.0, 1.0, 0.2),
    PlantedRegion("right_putamen", (26.0, 4.0, 2.0), 14.0, 0.2, 1.0),
)


@dataclass
class SyntheticAdhd200Config:
    n_subjects: int = 48
    n_timepoints: int = 120
    tr: float = 2.0
    resolution_mm: int = 8
    sites: tuple[str, ...] = ("KKI", "NYU", "Peking_1", "OHSU")
    adhd_fraction: float = 0.5
    coupling_jitter: float = 0.1  # between-subject SD of the planted loadings
    n_background_networks: int = 6
    n_confounds: int = 6
    regions: tuple[PlantedRegion, ...] = field(default_factory=lambda: DEFAULT_REGIONS)
    seed: int = 0


def _slow_signals(rng: np.random.Generator, n_timepoints: int, n_signals: int, tr: float) -> np.ndarray:
    """Unit-variance signals in the resting-state band (0.01-0.08 Hz), (n_timepoints, n_signals)."""
    sos = signal.butter(2, [0.01, 0.08], btype="bandpass", fs=1.0 / tr, output="sos")
    padded = rng.standard_normal((n_timepoints + 100, n_signals))
    slow = signal.sosfiltfilt(sos, padded, axis=0)[50:-50]
    return (slow - slow.mean(0)) / slow.std(0)


def _ar1_noise(rng: np.random.Generator, shape: tuple[int, int], rho: float = 0.3) -> np.ndarray:
    innovations = rng.standard_normal(shape)
    return signal.lfilter([np.sqrt(1 - rho**2)], [1.0, -rho], innovations, axis=0)


def _voxel_mm(mask_img: nib.Nifti1Image) -> np.ndarray:
    ijk = np.argwhere(np.asarray(mask_img.get_fdata() > 0))  # C order = nilearn's masking order
    return nib.affines.apply_affine(mask_img.affine, ijk)


def _region_members(coords: np.ndarray, region: PlantedRegion) -> np.ndarray:
    return np.flatnonzero(np.linalg.norm(coords - np.asarray(region.center_mm), axis=1) <= region.radius_mm)


def _cohort(config: SyntheticAdhd200Config, rng: np.random.Generator) -> pd.DataFrame:
    n_adhd = round(config.adhd_fraction * config.n_subjects)
    is_adhd = np.zeros(config.n_subjects, dtype=bool)
    is_adhd[:n_adhd] = True
    rng.shuffle(is_adhd)
    sites = [config.sites[i % len(config.sites)] for i in range(config.n_subjects)]
    rows = []
    for i, (site, adhd) in enumerate(zip(sites, is_adhd)):
        code = SITE_CODES.get(site, 90 + config.sites.index(site))
        rows.append(
            {
                "subject": f"{code:02d}{i:05d}",
                "site": site,
                "site_code": code,
                "dx": int(rng.choice([1, 3])) if adhd else 0,
                "age": round(float(rng.uniform(7.0, 21.0)), 2),
                "gender": int(rng.random() < 0.65),
            }
        )
    return pd.DataFrame(rows)


def generate_adhd200(out_dir: str | os.PathLike, config: SyntheticAdhd200Config | None = None) -> dict:
    """Write ``<site>/<subject>/sfnwmrda<subject>_session_1_rest_1.nii.gz`` (+ confounds TSV), per-site
    phenotypic CSVs and ``ground_truth.json`` to ``out_dir``; return the ground truth."""
    config = config or SyntheticAdhd200Config()
    rng = np.random.default_rng(config.seed)
    mask_img = common_mask(config.resolution_mm)
    mask = np.asarray(mask_img.get_fdata() > 0)
    coords = _voxel_mm(mask_img)
    n_voxels, n_t = len(coords), config.n_timepoints
    members = [_region_members(coords, region) for region in config.regions]
    for region, index in zip(config.regions, members):
        if index.size < 3:
            raise ValueError(f"region {region.name} has {index.size} voxels in the {config.resolution_mm} mm mask")

    # Spatial maps shared by every subject: background networks and confound loadings.
    centres = coords[rng.choice(n_voxels, config.n_background_networks, replace=False)]
    network_maps = 0.5 * np.exp(-(np.linalg.norm(coords[None] - centres[:, None], axis=2) ** 2) / (2 * 25.0**2))
    confound_maps = rng.standard_normal((config.n_confounds, 4)) @ np.vstack([np.ones(n_voxels), coords.T / 70.0])
    site_noise = {site: float(rng.uniform(0.8, 1.3)) for site in config.sites}
    site_baseline = {site: float(rng.uniform(600.0, 1200.0)) for site in config.sites}
    voxel_baseline = rng.uniform(0.8, 1.2, n_voxels)

    cohort = _cohort(config, rng)
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as temp:
        for row in cohort.itertuples():
            sub_rng = np.random.default_rng([config.seed, int(row.subject)])
            adhd = row.dx > 0
            series = site_noise[row.site] * _ar1_noise(sub_rng, (n_t, n_voxels))
            series += 0.3 * _slow_signals(sub_rng, n_t, 1, config.tr)  # global signal
            series += _slow_signals(sub_rng, n_t, config.n_background_networks, config.tr) @ network_maps
            latents = _slow_signals(sub_rng, n_t, len(config.regions), config.tr)
            for k, (region, index) in enumerate(zip(config.regions, members)):
                mean = region.coupling_adhd if adhd else region.coupling_tdc
                loading = max(mean + config.coupling_jitter * sub_rng.standard_normal(), 0.0)
                series[:, index] += loading * latents[:, [k]] * sub_rng.uniform(0.8, 1.2, index.size)
            motion = np.cumsum(0.1 * sub_rng.standard_normal((n_t, config.n_confounds)), axis=0)
            motion -= motion.mean(0)
            series += motion @ confound_maps
            volume = np.zeros((*mask.shape, n_t), dtype=np.float32)
            volume[mask] = (site_baseline[row.site] * voxel_baseline * (1.0 + 0.02 * series)).T
            image = nib.Nifti1Image(volume, mask_img.affine)
            image.header.set_xyzt_units("mm", "sec")
            image.header["pixdim"][4] = config.tr
            folder = temp / row.site / row.subject
            folder.mkdir(parents=True)
            nib.save(image, folder / f"sfnwmrda{row.subject}_session_1_rest_1.nii.gz")
            columns = [f"motion_{j}" for j in range(config.n_confounds)]
            pd.DataFrame(motion, columns=columns).to_csv(
                folder / f"sfnwmrda{row.subject}_session_1_rest_1_confounds.tsv",
                sep="\t",
                index=False,
                float_format="%.6f",
            )
        for site, group in cohort.groupby("site", sort=True):
            table = pd.DataFrame(
                {
                    "ScanDir ID": group["subject"].astype(int),  # ADHD-200 stores ids as integers
                    "Site": group["site_code"],
                    "Gender": group["gender"],
                    "Age": group["age"],
                    "Handedness": 1,
                    "DX": group["dx"],
                }
            )
            table.to_csv(temp / site / f"{site}_phenotypic.csv", index=False)
        truth = _ground_truth(config, cohort, members, mask, site_noise, site_baseline)
        write_json(temp / GROUND_TRUTH, truth)
    return json.loads((out_dir / GROUND_TRUTH).read_text())  # as a reader will see it


def _ground_truth(config, cohort, members, mask, site_noise, site_baseline) -> dict:
    params = asdict(config)
    params.pop("regions")
    return {
        "generator": "neurogaze.data.synthetic.adhd200",
        "params": params,
        "layout": {
            "func_pattern": "{site}/{subject}/sfnwmrda{subject}_session_1_rest_1.nii.gz",
            "confounds_pattern": "{site}/{subject}/sfnwmrda{subject}_session_1_rest_1_confounds.tsv",
            "phenotype_glob": "*/*_phenotypic.csv",
        },
        "mask": {
            "resolution_mm": config.resolution_mm,
            "n_voxels": int(mask.sum()),
            "order": "C order of the mask (nilearn)",
        },
        "regions": [
            {
                **asdict(region),
                "direction": region.direction,
                "n_voxels": int(index.size),
                "voxel_indices": index.tolist(),
            }
            for region, index in zip(config.regions, members)
        ],
        "subjects": {
            row.subject: {"diagnosis": "ADHD" if row.dx > 0 else "TDC", "dx_code": int(row.dx), "site": row.site}
            for row in cohort.itertuples()
        },
        "sites": {site: {"noise_scale": site_noise[site], "baseline": site_baseline[site]} for site in config.sites},
    }
