"""Small resting-state cohorts with planted group differences, as objects or as a loaded folder."""

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from neurogaze.data.adhd200 import COHORT_COLUMNS, PHENOTYPE_CSV
from neurogaze.data.contracts import RestingState, write_resting_state

SHAPE = (8, 8, 6)
REGIONS = {"left_blob": (slice(1, 4), slice(1, 4), slice(1, 4)), "right_blob": (slice(4, 7), slice(4, 7), slice(2, 5))}


def planted_mask():
    volume = np.zeros(SHAPE, dtype=bool)
    for region in REGIONS.values():
        volume[region] = True
    return volume.reshape(-1)  # the brain mask below is the full box, so C order = voxel order


def make_cohort(n_subjects=60, n_timepoints=80, seed=0, coupling=(0.15, 1.0)):
    """RestingState scans: smooth noise everywhere, plus, in two named regions, a latent signal
    whose loading is low in controls and high in ADHD (stronger local networks there)."""
    rng = np.random.default_rng(seed)
    mask = np.ones(SHAPE, dtype=bool)
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    planted = planted_mask()
    sites = ["A", "B", "C"]
    subjects = []
    for i in range(n_subjects):
        label = i % 2
        site = sites[i % 3]
        noise = rng.standard_normal((n_timepoints, *SHAPE))
        noise = ndimage.gaussian_filter(noise, sigma=(0, 0.8, 0.8, 0.8)).reshape(n_timepoints, -1)
        noise /= noise.std(axis=0)
        series = noise * (1.0 + 0.3 * sites.index(site))
        for region in REGIONS.values():
            members = np.zeros(SHAPE, dtype=bool)
            members[region] = True
            loading = max(coupling[label] + 0.1 * rng.standard_normal(), 0.0)
            series[:, members.reshape(-1)] += loading * 2.0 * rng.standard_normal((n_timepoints, 1))
        phenotype = {"subject": f"s{i:03d}", "diagnosis": "ADHD" if label else "TDC", "site": site,
                     "age": 10.0, "sex": "M", "dx_code": str(rng.choice([1, 3])) if label else "0"}
        subjects.append(RestingState(series.astype(np.float32), mask, affine, phenotype, tr=2.0))
    return subjects, planted


def write_rest_folder(folder: Path, subjects: list[RestingState]) -> Path:
    """The folder ``load_adhd200`` writes: ``<subject>.h5`` per scan and the cohort table."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for rest in subjects:
        write_resting_state(folder / f"{rest.phenotype['subject']}.h5", rest)
        rows.append({**rest.phenotype, "n_timepoints": rest.timeseries.shape[0], "tr": rest.tr,
                     "func_path": f"{rest.phenotype['subject']}.nii.gz"})
    pd.DataFrame(rows)[list(COHORT_COLUMNS)].to_csv(folder / PHENOTYPE_CSV, index=False)
    return folder
