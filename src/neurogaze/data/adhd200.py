"""ADHD-200 resting state (Athena-preprocessed layout) -> the resting-state contract.

The Athena release puts one 4D NIfTI per subject under ``<site>/<subject>/`` and one phenotypic
CSV per site. Every scan is masked to one common brain mask (nilearn's MNI152 brain mask
resampled to ``mask_resolution_mm``), confounds are regressed and the signal band-passed with
nilearn, and each subject becomes ``<out>/<subject>.h5`` (``RestingState``). The cohort table
goes to ``<out>/phenotype.csv`` and the mask to ``<out>/mask.nii.gz``.

Everything that can be checked from headers and tables (phenotype columns and values, ids,
shapes, affines, confound files) is checked before any data is processed; the output folder
appears atomically, so a bad scan found later leaves nothing behind either.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from tqdm import tqdm

from neurogaze.config import from_section
from neurogaze.data.contracts import (
    RestingState,
    read_resting_state,
    write_resting_state,
)
from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_directory, link_or_copy, write_csv, write_parquet
from neurogaze.shards import shard_of, table_subjects

logger = logging.getLogger(__name__)

PHENOTYPE_CSV = "phenotype.csv"
MASK_NIFTI = "mask.nii.gz"
COHORT_COLUMNS = ("subject", "diagnosis", "site", "age", "sex", "dx_code", "n_timepoints", "tr", "func_path")
MIN_TIMEPOINTS = 10
AFFINE_TOLERANCE = 1e-3


@dataclass
class Adhd200Options:
    """How to find, clean and mask the scans. Defaults follow the ADHD-200 Athena release."""

    func_pattern: str = "{site}/{subject}/sfnwmrda{subject}_session_1_rest_1.nii.gz"
    phenotype_glob: str = "*/*_phenotypic.csv"
    # Our field -> the phenotypic CSV's column (ADHD-200 names by default).
    columns: dict = field(
        default_factory=lambda: {
            "subject": "ScanDir ID",
            "site": "Site",
            "diagnosis": "DX",
            "age": "Age",
            "sex": "Gender",
        }
    )
    # ADHD-200 codes: DX 0 = typically developing, 1/2/3 = ADHD subtypes; Gender 0 = F, 1 = M.
    diagnosis_labels: dict = field(default_factory=lambda: {"0": "TDC", "1": "ADHD", "2": "ADHD", "3": "ADHD"})
    sex_labels: dict = field(default_factory=lambda: {"0": "F", "1": "M"})
    subject_zero_pad: int = 7
    confounds_pattern: str | None = None  # a TSV/CSV per scan, one row per volume; None: none
    high_variance_confounds: int = 0  # nilearn's CompCor-like confounds added per scan; 0: off
    mask_resolution_mm: int = 4
    tr: float | None = None  # None: from the NIfTI header
    # False: only mask (and z-score) the scans. The Athena sfnwmrda files are already
    # nuisance-regressed and band-passed (0.009-0.08 Hz) by the Athena pipeline; cleaning them
    # again filters twice. False ignores low_pass, high_pass and detrend.
    clean: bool = True
    low_pass: float | None = 0.08
    high_pass: float | None = 0.009
    detrend: bool = True
    standardize: bool = True

    def __post_init__(self) -> None:
        if not self.clean and (self.confounds_pattern or self.high_variance_confounds):
            raise ValueError("confounds_pattern and high_variance_confounds need clean: true "
                             "(clean: false regresses nothing out)")


def common_mask(resolution_mm: int) -> nib.Nifti1Image:
    """nilearn's shipped MNI152 brain mask resampled to an isotropic grid (4 mm: 29,398 voxels)."""
    from nilearn.datasets import load_mni152_brain_mask

    mask = load_mni152_brain_mask(resolution=int(resolution_mm))
    return nib.Nifti1Image(np.asarray(mask.get_fdata() > 0, dtype=np.uint8), mask.affine)


# ---------------------------------------------------------------------------------------------
# Tables and file discovery
# ---------------------------------------------------------------------------------------------


def normalize_subject(value, zero_pad: int) -> str:
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():  # pandas reads integer ids with NaNs as floats
        text = text[:-2]
    return text.zfill(zero_pad) if text.isdigit() else text


def read_phenotype(root: str | os.PathLike, options: Adhd200Options) -> pd.DataFrame:
    """All phenotypic CSVs under ``root``, validated, as columns subject/site/diagnosis/age/sex/dx_code."""
    root = Path(root)
    paths = sorted(root.glob(options.phenotype_glob))
    if not paths:
        raise DataValidationError(
            root / options.phenotype_glob, "phenotype", "at least one phenotypic CSV", "none found"
        )
    return pd.concat([_read_one_phenotype(path, options) for path in paths], ignore_index=True)


def _read_one_phenotype(path: Path, options: Adhd200Options) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except Exception as exc:  # pandas raises several types for binary or truncated files
        raise DataValidationError(path, "file", "a readable CSV phenotype table", exc) from exc
    table.columns = [name.strip() for name in table.columns]
    for ours, theirs in options.columns.items():
        if theirs not in table.columns:
            raise DataValidationError(
                path, theirs, f"a column for {ours} (columns: {sorted(options.columns.values())})", "missing"
            )
    out = pd.DataFrame({ours: table[theirs].str.strip() for ours, theirs in options.columns.items()})
    if out["subject"].isna().any() or (out["subject"] == "").any():
        raise DataValidationError(path, options.columns["subject"], "a subject id on every row", "an empty id")
    out["subject"] = [normalize_subject(value, options.subject_zero_pad) for value in out["subject"]]
    duplicated = out["subject"].duplicated()
    if duplicated.any():
        raise DataValidationError(
            path, options.columns["subject"], "unique subject ids", f"duplicate {out['subject'][duplicated].iloc[0]}"
        )
    out["dx_code"] = out["diagnosis"]
    out["diagnosis"] = _map_codes(path, options.columns["diagnosis"], out["diagnosis"], options.diagnosis_labels)
    out["sex"] = _map_codes(path, options.columns["sex"], out["sex"], options.sex_labels)
    age = pd.to_numeric(out["age"], errors="coerce")
    if not np.all(np.isfinite(age.to_numpy(dtype=float))):
        raise DataValidationError(
            path, options.columns["age"], "a finite numeric age on every row", out["age"][~np.isfinite(age)].iloc[0]
        )
    out["age"] = age.astype(float)
    out["phenotype_file"] = str(path)
    return out


def _map_codes(path: Path, column: str, values: pd.Series, labels: dict) -> pd.Series:
    codes = values.fillna("").map(lambda v: normalize_subject(v, 0))  # "1.0" and "1" are one code
    unknown = sorted(set(codes) - set(map(str, labels)))
    if unknown:
        raise DataValidationError(path, column, f"codes in {sorted(map(str, labels))}", f"{unknown[0]!r}")
    return codes.map({str(key): value for key, value in labels.items()})


def _pattern_regex(pattern: str) -> re.Pattern:
    parts = re.split(r"(\{site\}|\{subject\})", pattern)
    seen: set[str] = set()
    regex = ""
    for part in parts:
        if part in ("{site}", "{subject}"):
            name = part[1:-1]
            regex += f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+)"
            seen.add(name)
        else:
            regex += re.escape(part)
    return re.compile(regex + "$")


def find_scans(root: str | os.PathLike, options: Adhd200Options) -> pd.DataFrame:
    """The functional scans matching ``func_pattern``: subject, site_folder, func_path, confounds_path."""
    root = Path(root)
    regex = _pattern_regex(options.func_pattern)
    glob = options.func_pattern.replace("{site}", "*").replace("{subject}", "*")
    rows = []
    for path in sorted(root.glob(glob)):
        match = regex.match(path.relative_to(root).as_posix())
        if match is None:
            continue
        groups = match.groupdict()
        subject = normalize_subject(groups["subject"], options.subject_zero_pad)
        confounds = None
        if options.confounds_pattern:
            confounds = root / options.confounds_pattern.format(site=groups.get("site", ""), subject=groups["subject"])
        rows.append(
            {"subject": subject, "site_folder": groups.get("site"), "func_path": path, "confounds_path": confounds}
        )
    if not rows:
        raise DataValidationError(root / glob, "func_pattern", "at least one functional NIfTI", "none found")
    return pd.DataFrame(rows)


def match_cohort(root: str | os.PathLike, options: Adhd200Options) -> pd.DataFrame:
    """Scans joined to their phenotype rows; every scan must have one (ids are not guessed)."""
    phenotype = read_phenotype(root, options).set_index("subject")
    scans = find_scans(root, options)
    missing = scans.loc[~scans["subject"].isin(phenotype.index)]
    if not missing.empty:
        first = missing.iloc[0]
        raise DataValidationError(
            first["func_path"], "subject", "a row in the phenotypic CSV", f"no row for id {first['subject']}"
        )
    cohort = scans.join(phenotype, on="subject")
    if "{site}" in options.func_pattern:  # Athena's folder names read better than the CSV's site codes
        cohort["site"] = cohort["site_folder"]
    unscanned = len(phenotype) - len(cohort)
    if unscanned:
        logger.info("%d phenotype rows have no scan under %s (skipped)", unscanned, root)
    return cohort.sort_values("subject", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Scans
# ---------------------------------------------------------------------------------------------


def _load_header(path: Path) -> nib.Nifti1Image:
    try:
        return nib.load(path)
    except Exception as exc:  # nibabel raises ImageFileError, EOFError, gzip errors ...
        raise DataValidationError(path, "file", "a readable NIfTI image", exc) from exc


def check_scans(cohort: pd.DataFrame, options: Adhd200Options) -> pd.DataFrame:
    """Check every scan's header (4D, enough volumes, one grid for all, TR) and confounds; add n_timepoints, tr."""
    reference = None
    n_timepoints, trs = [], []
    for row in cohort.itertuples():
        image = _load_header(Path(row.func_path))
        if len(image.shape) != 4:
            raise DataValidationError(row.func_path, "shape", "a 4D image (x, y, z, time)", image.shape)
        if image.shape[3] < MIN_TIMEPOINTS:
            raise DataValidationError(row.func_path, "shape[3]", f"at least {MIN_TIMEPOINTS} volumes", image.shape[3])
        if reference is None:
            reference = (row.func_path, image.shape[:3], image.affine)
        elif image.shape[:3] != reference[1]:
            raise DataValidationError(
                row.func_path, "shape", f"the grid of {reference[0]} {reference[1]}", image.shape[:3]
            )
        elif not np.allclose(image.affine, reference[2], atol=AFFINE_TOLERANCE):
            raise DataValidationError(
                row.func_path, "affine", f"the affine of {reference[0]}", image.affine.round(3).tolist()
            )
        tr = options.tr if options.tr is not None else float(image.header.get_zooms()[3])
        if not np.isfinite(tr) or tr <= 0:
            raise DataValidationError(
                row.func_path, "pixdim[4] (TR)", "a positive repetition time in seconds (or set tr)", tr
            )
        needed = filter_min_timepoints(options, tr)
        if image.shape[3] < needed:
            raise DataValidationError(
                row.func_path, "shape[3]", f"at least {needed} volumes for the band-pass filter", image.shape[3]
            )
        if row.confounds_path is not None:
            read_confounds(row.confounds_path, image.shape[3])
        n_timepoints.append(int(image.shape[3]))
        trs.append(tr)
    return cohort.assign(n_timepoints=n_timepoints, tr=trs)


def filter_min_timepoints(options: Adhd200Options, tr: float) -> int:
    """Volumes nilearn's Butterworth (order 5, forward-backward) needs: more than its padding."""
    from scipy import signal

    cutoffs = [f for f in (options.high_pass, options.low_pass) if f is not None] if options.clean else []
    if not cutoffs:
        return MIN_TIMEPOINTS
    btype = "band" if len(cutoffs) == 2 else ("high" if options.high_pass is not None else "low")
    sos = signal.butter(5, cutoffs if len(cutoffs) == 2 else cutoffs[0], btype=btype, fs=1.0 / tr, output="sos")
    trailing_zeros = min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum())
    return max(MIN_TIMEPOINTS, 3 * (2 * len(sos) + 1 - int(trailing_zeros)) + 1)


def read_confounds(path: str | os.PathLike, n_timepoints: int) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, "file", "a confounds table for this scan (confounds_pattern)", "no such file")
    try:
        table = pd.read_csv(path, sep=None, engine="python")
    except Exception as exc:
        raise DataValidationError(path, "file", "a readable TSV/CSV confounds table", exc) from exc
    values = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if values.shape[0] != n_timepoints:
        raise DataValidationError(path, "rows", f"one row per volume ({n_timepoints})", values.shape[0])
    if not np.all(np.isfinite(values)):
        raise DataValidationError(path, "values", "finite numeric confounds", "NaN, inf or text")
    return values


def clean_scan(
    func_path, mask_img: nib.Nifti1Image, tr: float, options: Adhd200Options, confounds_path=None
) -> np.ndarray:
    """Masked, confound-regressed, band-passed time series, float32 (n_timepoints, n_voxels); with
    ``options.clean`` false only masked (and z-scored when ``options.standardize``)."""
    from nilearn.image import high_variance_confounds
    from nilearn.maskers import NiftiMasker

    image = _load_header(Path(func_path))
    try:
        data = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as exc:  # a truncated gzip stream shows up only when the data are read
        raise DataValidationError(func_path, "data", "a complete NIfTI data block", exc) from exc
    if not np.all(np.isfinite(data)):
        raise DataValidationError(func_path, "data", "finite voxel values", "NaN or inf")
    image = nib.Nifti1Image(data, image.affine, image.header)
    confounds = []
    if confounds_path is not None:
        confounds.append(read_confounds(confounds_path, data.shape[3]))
    if options.high_variance_confounds:
        confounds.append(high_variance_confounds(image, n_confounds=options.high_variance_confounds))
    masker = NiftiMasker(
        mask_img=mask_img,
        t_r=tr,
        low_pass=options.low_pass if options.clean else None,
        high_pass=options.high_pass if options.clean else None,
        detrend=options.detrend and options.clean,
        standardize="zscore_sample" if options.standardize else False,
        # nilearn filters voxel by voxel unless asked to copy; filtering all at once is ~50x faster
        clean_args={"butterworth__copy": True},
    )
    series = masker.fit_transform(image, confounds=np.hstack(confounds) if confounds else None)
    return np.asarray(series, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# The whole cohort
# ---------------------------------------------------------------------------------------------


def load_adhd200(*, phenotype: str | os.PathLike, mask: str | os.PathLike, parts: list[str],
                 rest: str | os.PathLike) -> None:
    """Rule ``load_adhd200`` (the gather): the folder ``rest`` holding every subject's contract file
    from the shard folders ``parts`` (rule ``load_adhd200_subjects``), the cohort table
    ``phenotype`` and the ``mask`` (rule ``adhd200_cohort``). Files are hard-linked where the file
    system allows (a copy otherwise): the cohort is not written twice."""
    gather_rest_cohort(phenotype, mask, parts, rest)


def adhd200_cohort(*, root: str | os.PathLike, phenotype: str | os.PathLike, scans: str | os.PathLike,
                   mask: str | os.PathLike, settings: dict) -> pd.DataFrame:
    """Rule ``adhd200_cohort`` (a checkpoint): check the whole release under ``root`` from its tables
    and headers, then write the cohort table ``phenotype`` (the loaded cohort's ``phenotype.csv``),
    the per-scan table ``scans`` (parquet) that the per-subject jobs read, and the common ``mask``."""
    options = from_section(Adhd200Options, settings, "datasets.adhd200")
    cohort, mask_img = check_cohort(root, options)
    table = cohort_table(cohort)
    write_csv(phenotype, table)
    write_parquet(scans, _scan_table(cohort))
    _save_nifti(mask_img, mask)
    return table


def _save_nifti(image: nib.Nifti1Image, path: str | os.PathLike) -> None:
    # nibabel compresses by the file's extension, which a temporary file name would lose.
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.tmp-", dir=path.parent) as temp:
        nib.save(image, Path(temp) / path.name)
        os.replace(Path(temp) / path.name, path)


def load_adhd200_subjects(*, root: str | os.PathLike, scans: str | os.PathLike, mask: str | os.PathLike,
                          shard: str, part: str | os.PathLike, settings: dict, subjects_per_job: int) -> None:
    """Rule ``load_adhd200_subjects``: clean and mask the scans of one shard of the cohort (its
    ``subjects_per_job`` subjects from ``shard`` on, in the order of ``scans``) -> ``<subject>.h5``
    each in the folder ``part``. ``root`` is the release the scans' paths point into."""
    options = from_section(Adhd200Options, settings, "datasets.adhd200")
    cohort = read_scan_table(scans)
    members = shard_of(list(cohort["subject"]), subjects_per_job, shard, scans)
    mask_img = _load_header(Path(mask))
    mask_img = nib.Nifti1Image(np.asarray(mask_img.dataobj), mask_img.affine, mask_img.header)
    with atomic_directory(part) as temp:
        for row in cohort.set_index("subject").loc[members].reset_index().itertuples():
            write_resting_state(temp / f"{row.subject}.h5", subject_state(row, mask_img, options))


def check_cohort(root: str | os.PathLike, options: Adhd200Options) -> tuple[pd.DataFrame, nib.Nifti1Image]:
    """The release's scans joined to their phenotype rows, every header checked, and the mask."""
    return check_scans(match_cohort(Path(root), options), options), common_mask(options.mask_resolution_mm)


def cohort_table(cohort: pd.DataFrame) -> pd.DataFrame:
    """The cohort file's columns (``phenotype.csv``), paths and sites as text."""
    table = cohort.assign(func_path=cohort["func_path"].astype(str), site=cohort["site"].astype(str))
    return table[list(COHORT_COLUMNS)]


_SCAN_COLUMNS = ("subject", "diagnosis", "site", "age", "sex", "dx_code", "tr", "func_path", "confounds_path")


def _scan_table(cohort: pd.DataFrame) -> pd.DataFrame:
    # Parquet keeps every value exactly (ages and TRs as float64), so a per-subject job writes the
    # bytes the whole-cohort loader writes.
    table = cohort.assign(
        func_path=cohort["func_path"].astype(str),
        confounds_path=[None if path is None else str(path) for path in cohort["confounds_path"]],
    )
    return table[list(_SCAN_COLUMNS)]


def read_scan_table(path: str | os.PathLike) -> pd.DataFrame:
    """The per-scan table ``adhd200_cohort`` wrote."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, "file", "the scan table written by adhd200_cohort", "no such file")
    table = pd.read_parquet(path)
    missing = [name for name in _SCAN_COLUMNS if name not in table.columns]
    if missing:
        raise DataValidationError(path, missing[0], f"columns {list(_SCAN_COLUMNS)}", "missing")
    return table.assign(confounds_path=[None if pd.isna(p) else p for p in table["confounds_path"]])


def subject_state(row, mask_img: nib.Nifti1Image, options: Adhd200Options) -> RestingState:
    """One scan of the checked cohort (a row of ``check_cohort``), cleaned and masked."""
    series = clean_scan(row.func_path, mask_img, row.tr, options, row.confounds_path)
    phenotype = {
        "subject": row.subject,
        "diagnosis": row.diagnosis,
        "site": str(row.site),
        "age": float(row.age),
        "sex": row.sex,
        "dx_code": str(row.dx_code),
        "func_path": str(row.func_path),
    }
    return RestingState(series, np.asarray(mask_img.get_fdata() > 0), mask_img.affine, phenotype, tr=row.tr)


def gather_rest_cohort(phenotype: str | os.PathLike, mask: str | os.PathLike, parts: list[str],
                       rest: str | os.PathLike) -> None:
    """The cohort folder (``<subject>.h5`` per row of ``phenotype``, ``phenotype.csv``,
    ``mask.nii.gz``) from the shard folders; every subject must be in one of them."""
    found = {path.stem: path for part in parts for path in sorted(Path(part).glob("*.h5"))}
    subjects = table_subjects(phenotype)
    missing = [subject for subject in subjects if subject not in found]
    if missing:
        raise DataValidationError(parts[0] if parts else None, "subjects",
                                  "a contract file for every subject of the cohort table", f"missing {missing[:5]}")
    with atomic_directory(rest) as temp:
        for subject in subjects:
            link_or_copy(found[subject], temp / f"{subject}.h5")
        link_or_copy(Path(mask), temp / MASK_NIFTI)
        link_or_copy(Path(phenotype), temp / PHENOTYPE_CSV)


def export_adhd200(
    root: str | os.PathLike, out_dir: str | os.PathLike, options: Adhd200Options | None = None, dataset: str = "adhd200"
) -> pd.DataFrame:
    """The whole cohort in one call (the rules' three steps in one process): check the release,
    then write ``<subject>.h5`` per scan, ``phenotype.csv`` and ``mask.nii.gz``."""
    options = options or Adhd200Options()
    cohort, mask_img = check_cohort(root, options)
    with atomic_directory(out_dir) as temp:
        for row in tqdm(list(cohort.itertuples()), desc=f"{dataset}: clean scans", unit="scan"):
            write_resting_state(temp / f"{row.subject}.h5", subject_state(row, mask_img, options))
        nib.save(mask_img, temp / MASK_NIFTI)
        table = cohort_table(cohort)
        write_csv(temp / PHENOTYPE_CSV, table)
    logger.info(
        "%s: %d subjects, %d voxels in the %d mm mask",
        dataset,
        len(cohort),
        int(np.asarray(mask_img.get_fdata() > 0).sum()),
        options.mask_resolution_mm,
    )
    return table


def read_rest_cohort(out_dir: str | os.PathLike) -> pd.DataFrame:
    """The cohort table a load step wrote, with a ``path`` column to each subject's contract file."""
    out_dir = Path(out_dir)
    path = out_dir / PHENOTYPE_CSV
    if not path.exists():
        raise DataValidationError(path, "file", "the cohort table written by load_adhd200", "no such file")
    table = pd.read_csv(path, dtype={"subject": str, "site": str, "dx_code": str})
    missing = [name for name in COHORT_COLUMNS if name not in table.columns]
    if missing:
        raise DataValidationError(path, missing[0], f"columns {list(COHORT_COLUMNS)}", "missing")
    return table.assign(path=[str(out_dir / f"{subject}.h5") for subject in table["subject"]])


def read_rest_subject(out_dir: str | os.PathLike, subject: str) -> RestingState:
    return read_resting_state(Path(out_dir) / f"{subject}.h5")
