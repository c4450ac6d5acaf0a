"""Natural Scenes Dataset (Allen et al. 2022): single-trial betas to the brain-response contract.

Reads the released layout under an NSD root (the synthetic generator writes the same one)::

    nsddata/experiments/nsd/nsd_expdesign.mat            masterordering, subjectim, sharedix
    nsddata/ppdata/subjXX/<space>/roi/<name>.nii.gz      nsdgeneral, prf-visualrois, floc-* ...
    nsddata/freesurfer/subjXX/label/<name>.mgz.ctab      "<value> <label>" per line
    nsddata_betas/ppdata/subjXX/<space>/<version>/betas_sessionNN.nii.gz   (X, Y, Z, trials) int16
        (or betas_sessionNN.hdf5, dataset ``betas`` (trials, Z, Y, X), the same numbers)
    nsddata_betas/ppdata/subjXX/<space>/<version>/ncsnr.nii.gz
    nsddata_stimuli/stimuli/nsd/nsd_stimuli.hdf5         imgBrick (73000, 425, 425, 3) uint8

Processing follows the NSD papers: betas / 300 (percent signal change), z-score every voxel
within each session, average the repeats of each image. With ``single_trials`` the z-scored
trials are kept too, in presentation order, each with its image's row and its session (the
brain-response contract's optional ``trial_*`` fields): MindEye's official code trains on single
trials. Test images are the ones shared by all subjects (sharedix, "shared1000"); the rest are
train. Sessions are streamed in chunks of trials, so memory holds one session's masked betas plus
the running per-image sums (and, with single_trials, the trials).

Index conventions: ``masterordering`` (1 x 30000) holds 1-based columns of ``subjectim``;
``subjectim`` (8 x 10000) and ``sharedix`` (1 x 1000) hold 1-based 73k ids (row id-1 of
imgBrick). Stimulus ids here are ``nsd-<1-based 73k id, 5 digits>``, as in NSD's file names.

Every input is checked before anything is read in bulk, and nothing is written here: callers
write the returned containers through the atomic contract writers.
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import scipy.io
from nibabel.openers import ImageOpener
from nibabel.volumeutils import array_from_file
from tqdm import tqdm

from neurogaze.data.contracts import BrainResponses, StimulusSet, write_brain_responses, write_stimulus_set
from neurogaze.errors import DataValidationError

logger = logging.getLogger(__name__)

BETA_SCALE = 300.0  # betas are stored as int16 percent signal change x 300
TRIALS_PER_SESSION = 750  # the real data; the loader reads the count from each file
SPACE = "func1pt8mm"
BETA_VERSION = "betas_fithrf_GLMdenoise_RR"
DEFAULT_ROI = "nsdgeneral"
DEFAULT_ROI_FILES = ("prf-visualrois", "floc-faces", "floc-bodies", "floc-places", "floc-words")
EXPDESIGN_FIELDS = ("masterordering", "subjectim", "sharedix")
STIMULUS_DATASET = "imgBrick"
HDF5_BETAS_DATASET = "betas"
_SESSION_RE = re.compile(r"^betas_session(\d{2})\.(nii\.gz|nii|hdf5)$")
_AFFINE_TOLERANCE_MM = 1e-3
_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError)


# ---------------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NSDLayout:
    """Paths of one NSD root (real or synthetic)."""

    root: Path
    space: str = SPACE
    beta_version: str = BETA_VERSION

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def expdesign(self) -> Path:
        return self.root / "nsddata" / "experiments" / "nsd" / "nsd_expdesign.mat"

    @property
    def stimuli(self) -> Path:
        return self.root / "nsddata_stimuli" / "stimuli" / "nsd" / "nsd_stimuli.hdf5"

    def roi(self, subject: str, name: str) -> Path:
        return self.root / "nsddata" / "ppdata" / subject / self.space / "roi" / f"{name}.nii.gz"

    def ctab(self, subject: str, name: str) -> Path:
        return self.root / "nsddata" / "freesurfer" / subject / "label" / f"{name}.mgz.ctab"

    def betas_dir(self, subject: str) -> Path:
        return self.root / "nsddata_betas" / "ppdata" / subject / self.space / self.beta_version

    def ncsnr(self, subject: str) -> Path:
        return self.betas_dir(subject) / "ncsnr.nii.gz"

    def session_files(self, subject: str, beta_format: str = "auto") -> dict[int, Path]:
        """Session number -> betas file. ``beta_format``: "nifti", "hdf5" or "auto" (NIfTI
        where both exist)."""
        if beta_format not in ("auto", "nifti", "hdf5"):
            raise ValueError(f"beta_format must be auto, nifti or hdf5, not {beta_format!r}")
        found: dict[int, Path] = {}
        directory = self.betas_dir(subject)
        for path in sorted(directory.iterdir()) if directory.is_dir() else []:
            match = _SESSION_RE.match(path.name)
            if not match:
                continue
            is_hdf5 = match.group(2) == "hdf5"
            if (beta_format == "nifti" and is_hdf5) or (beta_format == "hdf5" and not is_hdf5):
                continue
            session = int(match.group(1))
            if session not in found or not is_hdf5:
                found[session] = path
        return dict(sorted(found.items()))


def stim_id(nsd_id: int) -> str:
    """Stimulus id of a 1-based 73k id."""
    return f"nsd-{int(nsd_id):05d}"


def nsd_id_of(stim: str) -> int:
    match = re.fullmatch(r"nsd-(\d+)", str(stim))
    if not match:
        raise DataValidationError(None, "stim_id", "ids of the form nsd-<73k id>", stim)
    return int(match.group(1))


def subject_index(subject: str) -> int:
    """0-based row of ``subjectim`` for "subjXX"."""
    match = re.fullmatch(r"subj(\d{2})", subject)
    if not match or int(match.group(1)) < 1:
        raise DataValidationError(None, "subject", "a subject name subjXX (subj01, subj02, ...)", subject)
    return int(match.group(1)) - 1


# ---------------------------------------------------------------------------------------------
# Experimental design, label tables, volumes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpDesign:
    """nsd_expdesign.mat with every index kept 1-based, as stored."""

    masterordering: np.ndarray  # (n_trials,) 1-based columns of subjectim
    subjectim: np.ndarray  # (n_subjects, n_images) 1-based 73k ids
    sharedix: np.ndarray  # (n_shared,) 1-based 73k ids
    path: Path | None = None

    def trial_nsd_ids(self, subject_row: int, first_trial: int, n_trials: int) -> np.ndarray:
        """1-based 73k ids of trials [first_trial, first_trial + n_trials) of one subject."""
        columns = self.masterordering[first_trial : first_trial + n_trials] - 1
        return self.subjectim[subject_row, columns]


def read_expdesign(path: str | os.PathLike) -> ExpDesign:
    """Read and check nsd_expdesign.mat (MATLAB v5 file, as released)."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, "file", "the NSD design file nsd_expdesign.mat", "no such file")
    try:
        raw = scipy.io.loadmat(path, variable_names=list(EXPDESIGN_FIELDS))
    except Exception as exc:  # scipy raises several types for damaged .mat files
        raise DataValidationError(path, "file", "a readable MATLAB .mat file", f"{type(exc).__name__}: {exc}") from exc
    for name in EXPDESIGN_FIELDS:
        if name not in raw:
            raise DataValidationError(path, name, f"the variables {list(EXPDESIGN_FIELDS)}", "missing")
    fields = {}
    for name in EXPDESIGN_FIELDS:
        value = np.asarray(raw[name])
        if not np.issubdtype(value.dtype, np.number) or not np.all(np.isfinite(value)):
            raise DataValidationError(path, name, "finite numeric indices", value.dtype)
        if np.any(value != np.round(value)) or np.any(value < 1):
            raise DataValidationError(path, name, "1-based integer indices (all >= 1)", f"min {value.min()}")
        fields[name] = value.astype(np.int64)
    subjectim = fields["subjectim"]
    if subjectim.ndim != 2:
        raise DataValidationError(path, "subjectim", "a 2-D (subjects x images) matrix", subjectim.shape)
    masterordering = fields["masterordering"].ravel()
    if masterordering.max() > subjectim.shape[1]:
        raise DataValidationError(
            path, "masterordering", f"columns of subjectim (1..{subjectim.shape[1]})", int(masterordering.max())
        )
    return ExpDesign(masterordering, subjectim, fields["sharedix"].ravel(), path)


def read_ctab(path: str | os.PathLike) -> dict[int, str]:
    """A FreeSurfer-style colour table as NSD ships it: one ``<value> <label>`` per line."""
    path = Path(path)
    if not path.exists():
        raise DataValidationError(path, "file", "an ROI label table (.mgz.ctab)", "no such file")
    labels: dict[int, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2 or not re.fullmatch(r"-?\d+", parts[0]):
            raise DataValidationError(path, f"line {number}", "two columns: <integer value> <label>", line)
        labels[int(parts[0])] = parts[1]
    if not labels:
        raise DataValidationError(path, "labels", "at least one '<value> <label>' line", "empty table")
    return labels


def _load_image(path: Path, what: str):
    if not path.exists():
        raise DataValidationError(path, "file", what, "no such file")
    try:
        return nib.load(path)
    except _READ_ERRORS as exc:
        raise DataValidationError(path, "file", f"a readable {what}", f"{type(exc).__name__}: {exc}") from exc


def _read_volume(path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    image = _load_image(path, what)
    try:
        data = np.asanyarray(image.dataobj)
    except _READ_ERRORS as exc:
        raise DataValidationError(path, "data", f"a complete {what}", f"{type(exc).__name__}: {exc}") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise DataValidationError(path, "shape", f"a 3-D {what}", data.shape)
    return data, image.affine


def _check_same_grid(path: Path, shape, affine, ref_shape, ref_affine, ref_name: str) -> None:
    if tuple(shape) != tuple(ref_shape):
        raise DataValidationError(path, "shape", f"the voxel grid of {ref_name} {tuple(ref_shape)}", tuple(shape))
    if affine is not None and not np.allclose(affine, ref_affine, atol=_AFFINE_TOLERANCE_MM):
        raise DataValidationError(
            path, "affine", f"the affine of {ref_name}", np.array2string(np.asarray(affine), precision=3)
        )


def roi_masks(
    layout: NSDLayout, subject: str, names: Sequence[str], mask: np.ndarray, affine: np.ndarray
) -> dict[str, np.ndarray]:
    """Boolean vectors over the selected voxels: one per ROI file (value > 0) and one per label.

    Labels with no voxel inside the selection (e.g. anterior face patches outside nsdgeneral)
    are left out, so every stored ROI has units to summarise.
    """
    rois: dict[str, np.ndarray] = {}
    for name in names:
        path = layout.roi(subject, name)
        volume, roi_affine = _read_volume(path, f"ROI volume {name}")
        _check_same_grid(path, volume.shape, roi_affine, mask.shape, affine, "the voxel-selection ROI")
        labels = read_ctab(layout.ctab(subject, name))
        values = np.round(volume[mask]).astype(np.int64)
        if (values > 0).any():
            rois[_safe_name(name, rois)] = values > 0
        for value, label in labels.items():
            if value > 0 and (values == value).any():
                rois[_safe_name(label, rois, prefix=name)] = values == value
    return rois


def _safe_name(name: str, taken: dict, prefix: str | None = None) -> str:
    # HDF5 treats "/" as a group separator; a label seen in two files keeps both, prefixed.
    name = name.replace("/", "_")
    if name in taken and prefix is not None:
        name = f"{prefix}.{name}"
    return name


# ---------------------------------------------------------------------------------------------
# Betas: headers, streaming
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionFile:
    session: int
    path: Path
    n_trials: int
    spatial_shape: tuple[int, int, int]
    affine: np.ndarray | None  # None for hdf5 (no affine stored; the ROI volumes carry it)


def inspect_session(path: Path, session: int) -> SessionFile:
    """Read one session's header only and check it is a 4-D betas file."""
    if path.suffix == ".hdf5":
        try:
            with h5py.File(path, "r") as handle:
                if HDF5_BETAS_DATASET not in handle:
                    raise DataValidationError(
                        path, HDF5_BETAS_DATASET, "a 'betas' dataset (trials, Z, Y, X)", "missing"
                    )
                shape = handle[HDF5_BETAS_DATASET].shape
        except OSError as exc:
            raise DataValidationError(path, "file", "a readable HDF5 betas file", exc) from exc
        if len(shape) != 4:
            raise DataValidationError(path, HDF5_BETAS_DATASET, "4-D betas (trials, Z, Y, X)", shape)
        return SessionFile(session, path, shape[0], tuple(shape[1:][::-1]), None)
    image = _load_image(path, "NIfTI betas file")
    shape = image.shape
    if len(shape) != 4:
        raise DataValidationError(path, "shape", "4-D betas (X, Y, Z, trials)", shape)
    return SessionFile(session, path, shape[3], tuple(shape[:3]), image.affine)


def read_session_betas(info: SessionFile, mask: np.ndarray, chunk_trials: int = 50) -> np.ndarray:
    """Betas of the in-mask voxels, float32 (n_trials, n_voxels), in percent signal change.

    NIfTI files are read front to back through one open (gzip) stream, ``chunk_trials``
    volumes at a time, so neither the whole 4-D session nor a float64 copy is ever built.
    """
    reader = _read_hdf5_chunks if info.path.suffix == ".hdf5" else _read_nifti_chunks
    out = np.empty((info.n_trials, int(mask.sum())), dtype=np.float32)
    try:
        for start, block in reader(info, mask, chunk_trials):
            out[start : start + len(block)] = block
    except DataValidationError:
        raise
    except _READ_ERRORS as exc:
        raise DataValidationError(
            info.path, "data", f"{info.n_trials} complete trials of betas", f"{type(exc).__name__}: {exc}"
        ) from exc
    bad = ~np.isfinite(out)
    if bad.any():
        trial = int(np.nonzero(bad.any(axis=1))[0][0])
        raise DataValidationError(
            info.path, "betas", "finite values in the selected voxels", f"NaN or inf at trial {trial}"
        )
    return out


def _read_nifti_chunks(info: SessionFile, mask: np.ndarray, chunk_trials: int):
    # The array proxy knows where the data start and how they are scaled in this file.
    proxy = nib.load(info.path).dataobj
    dtype, offset = proxy.dtype, int(proxy.offset)
    slope, inter = float(proxy.slope), float(proxy.inter)
    volume_bytes = int(np.prod(info.spatial_shape)) * dtype.itemsize
    # Voxels in C order of (i, j, k), like volume[mask]; NIfTI stores each volume x-fastest.
    flat_index = np.ravel_multi_index(np.nonzero(mask), mask.shape, order="F")
    with ImageOpener(info.path, "rb") as stream:
        for start in range(0, info.n_trials, chunk_trials):
            count = min(chunk_trials, info.n_trials - start)
            block = array_from_file(
                (int(np.prod(info.spatial_shape)), count), dtype, stream, offset + start * volume_bytes, mmap=False
            )
            if block.size != int(np.prod(info.spatial_shape)) * count:
                raise DataValidationError(info.path, "data", f"{info.n_trials} trials of betas", "truncated file")
            values = block[flat_index].T.astype(np.float32)
            yield start, (values * slope + inter) / BETA_SCALE


def _read_hdf5_chunks(info: SessionFile, mask: np.ndarray, chunk_trials: int):
    i, j, k = np.nonzero(mask)  # the hdf5 arrays are (trials, Z, Y, X)
    with h5py.File(info.path, "r") as handle:
        dataset = handle[HDF5_BETAS_DATASET]
        for start in range(0, info.n_trials, chunk_trials):
            block = np.asarray(dataset[start : start + chunk_trials])
            yield start, block[:, k, j, i].astype(np.float32) / BETA_SCALE


def zscore_session(betas: np.ndarray) -> tuple[np.ndarray, int]:
    """Z-score each voxel over the trials of one session; constant voxels become 0."""
    mean = betas.mean(axis=0, dtype=np.float64)
    std = betas.std(axis=0, dtype=np.float64)
    constant = std == 0
    scaled = (betas - mean) / np.where(constant, 1.0, std)
    scaled[:, constant] = 0.0
    return scaled.astype(np.float32), int(constant.sum())


def noise_ceiling_r(ncsnr: np.ndarray, n_trials_per_image: np.ndarray) -> np.ndarray:
    """NSD's noise ceiling for trial-averaged responses, as a correlation.

    NC (% variance) = 100 * ncsnr^2 / (ncsnr^2 + mean(1 / n_i)) where n_i is the number of
    trials averaged for image i (Allen et al. 2022; mean(1/n) = 1/3 with three repeats each).
    The contract stores it in units of Pearson r: sqrt(NC / 100).
    """
    inv_n = float(np.mean(1.0 / np.asarray(n_trials_per_image, dtype=float)))
    ncsnr2 = np.asarray(ncsnr, dtype=np.float64) ** 2
    return np.sqrt(ncsnr2 / (ncsnr2 + inv_n)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Subject plan (every check) and loading
# ---------------------------------------------------------------------------------------------


@dataclass
class SubjectPlan:
    """Everything checked about one subject before any betas are read."""

    layout: NSDLayout
    subject: str
    design: ExpDesign
    mask: np.ndarray
    affine: np.ndarray
    sessions: list[SessionFile]
    rois: dict[str, np.ndarray]
    ncsnr: np.ndarray
    roi: str

    @property
    def n_trials(self) -> int:
        return sum(info.n_trials for info in self.sessions)

    def session_trial_ids(self, info: SessionFile) -> np.ndarray:
        first = (info.session - 1) * info.n_trials
        return self.design.trial_nsd_ids(subject_index(self.subject), first, info.n_trials)

    def seen_nsd_ids(self) -> np.ndarray:
        return np.unique(np.concatenate([self.session_trial_ids(info) for info in self.sessions]))


def plan_subject(
    root: str | os.PathLike,
    subject: str = "subj01",
    roi: str = DEFAULT_ROI,
    roi_files: Sequence[str] = DEFAULT_ROI_FILES,
    sessions: int | Sequence[int] | None = None,
    space: str = SPACE,
    beta_version: str = BETA_VERSION,
    beta_format: str = "auto",
) -> SubjectPlan:
    """Check one subject's files against each other; read headers, design, ROIs and ncsnr.

    ``sessions``: None for every session on disk, an int N for sessions 1..N, or a list.
    """
    layout = NSDLayout(Path(root), space, beta_version)
    design = read_expdesign(layout.expdesign)
    row = subject_index(subject)
    if row >= design.subjectim.shape[0]:
        raise DataValidationError(
            layout.expdesign, "subjectim", f"a row for {subject}", f"{design.subjectim.shape[0]} subjects"
        )
    selection, affine = _read_volume(layout.roi(subject, roi), f"ROI volume {roi}")
    mask = selection > 0
    if not mask.any():
        raise DataValidationError(layout.roi(subject, roi), roi, "at least one voxel with value > 0", "empty")
    session_infos = _plan_sessions(layout, subject, sessions, beta_format, design, mask.shape, affine)
    ncsnr_path = layout.ncsnr(subject)
    ncsnr_volume, ncsnr_affine = _read_volume(ncsnr_path, "ncsnr volume")
    _check_same_grid(ncsnr_path, ncsnr_volume.shape, ncsnr_affine, mask.shape, affine, f"ROI volume {roi}")
    ncsnr = np.asarray(ncsnr_volume[mask], dtype=np.float64)
    if not np.all(np.isfinite(ncsnr)) or np.any(ncsnr < 0):
        raise DataValidationError(ncsnr_path, "ncsnr", "finite, non-negative values in the selected voxels")
    rois = {_safe_name(roi, {}): np.ones(int(mask.sum()), dtype=bool)}
    rois.update(roi_masks(layout, subject, [name for name in roi_files if name != roi], mask, affine))
    plan = SubjectPlan(layout, subject, design, mask, affine, session_infos, rois, ncsnr, roi)
    _check_stimulus_ids(layout, plan.seen_nsd_ids(), design)
    return plan


def _plan_sessions(layout, subject, sessions, beta_format, design, shape, affine) -> list[SessionFile]:
    available = layout.session_files(subject, beta_format)
    if not available:
        raise DataValidationError(
            layout.betas_dir(subject), "betas_sessionNN", "at least one session of betas", "none found"
        )
    if sessions is None:
        wanted = list(available)
    elif isinstance(sessions, int):
        wanted = list(range(1, sessions + 1))
    else:
        wanted = [int(s) for s in sessions]
    missing = [s for s in wanted if s not in available]
    if missing:
        raise DataValidationError(
            layout.betas_dir(subject),
            f"betas_session{missing[0]:02d}",
            "a betas file for every requested session",
            "missing",
        )
    infos = [inspect_session(available[s], s) for s in wanted]
    for info in infos:
        _check_same_grid(info.path, info.spatial_shape, info.affine, shape, affine, "the ROI volumes")
        if info.n_trials != infos[0].n_trials:
            raise DataValidationError(
                info.path,
                "trials",
                f"{infos[0].n_trials} trials per session like session {infos[0].session}",
                info.n_trials,
            )
        last = info.session * info.n_trials
        if last > design.masterordering.size:
            raise DataValidationError(
                design.path,
                "masterordering",
                f"at least {last} trials (session {info.session})",
                design.masterordering.size,
            )
    return infos


def _check_stimulus_ids(layout: NSDLayout, nsd_ids: np.ndarray, design: ExpDesign) -> None:
    n_images = stimulus_count(layout.stimuli)
    for field, ids, source in (("subjectim", nsd_ids, design.path), ("sharedix", design.sharedix, design.path)):
        if ids.size and ids.max() > n_images:
            raise DataValidationError(
                source, field, f"73k ids within {STIMULUS_DATASET} of {layout.stimuli} (1..{n_images})", int(ids.max())
            )


def stimulus_count(path: Path) -> int:
    """Number of images in nsd_stimuli.hdf5 (header only)."""
    return _brick_shape(path)[0]


def _brick_shape(path: Path) -> tuple[int, ...]:
    if not path.exists():
        raise DataValidationError(path, "file", "the NSD stimulus brick nsd_stimuli.hdf5", "no such file")
    try:
        with h5py.File(path, "r") as handle:
            if STIMULUS_DATASET not in handle:
                raise DataValidationError(path, STIMULUS_DATASET, "a dataset imgBrick (n, height, width, 3)", "missing")
            dataset = handle[STIMULUS_DATASET]
            shape, dtype = dataset.shape, dataset.dtype
    except OSError as exc:
        raise DataValidationError(path, "file", "a readable HDF5 stimulus brick", exc) from exc
    if len(shape) != 4 or shape[3] != 3 or dtype != np.uint8:
        raise DataValidationError(path, STIMULUS_DATASET, "uint8 images (n, height, width, 3)", f"{shape} {dtype}")
    return shape


def load_subject(
    root: str | os.PathLike,
    subject: str = "subj01",
    roi: str = DEFAULT_ROI,
    roi_files: Sequence[str] = DEFAULT_ROI_FILES,
    sessions: int | Sequence[int] | None = None,
    space: str = SPACE,
    beta_version: str = BETA_VERSION,
    beta_format: str = "auto",
    chunk_trials: int = 50,
    progress: bool = True,
    single_trials: bool = False,
) -> BrainResponses:
    """One subject's trial-averaged, session-z-scored betas as a ``BrainResponses``.

    Rows are the images the subject saw in the loaded sessions, sorted by 73k id; ``split`` is
    "test" for the images shared by all subjects (sharedix) and "train" otherwise. With
    ``sessions=37`` that is the split of MindEye and the NSD reconstruction papers of 2023 (the 37
    sessions public then): 8,859 train and 982 test images for subj01. ``single_trials`` also
    keeps every z-scored trial (``trial_responses``, ``trial_rows``, ``trial_sessions``; 1.7 GB of
    memory for subj01's 37 sessions of nsdgeneral, filled in place).
    """
    plan = plan_subject(root, subject, roi, roi_files, sessions, space, beta_version, beta_format)
    nsd_ids = plan.seen_nsd_ids()
    row_of = {int(i): r for r, i in enumerate(nsd_ids)}
    sums = np.zeros((nsd_ids.size, int(plan.mask.sum())), dtype=np.float32)
    counts = np.zeros(nsd_ids.size, dtype=np.int64)
    n_constant = 0
    # filled in place, so the trials are never held twice (1.7 GB for subj01's 37 sessions)
    trials = _empty_trials(plan) if single_trials else {}
    first = 0
    for info in tqdm(plan.sessions, desc=f"NSD {subject} sessions", disable=not progress):
        betas = read_session_betas(info, plan.mask, chunk_trials)
        betas, constant = zscore_session(betas)
        n_constant = max(n_constant, constant)
        rows = np.fromiter((row_of[int(i)] for i in plan.session_trial_ids(info)), dtype=np.int64)
        _accumulate(sums, counts, rows, betas)
        if single_trials:
            done = slice(first, first + len(rows))
            trials["trial_responses"][done], trials["trial_rows"][done] = betas, rows
            trials["trial_sessions"][done] = info.session
        first += len(rows)
        del betas
    if n_constant:
        logger.warning("%s: %d selected voxels are constant within a session (set to 0)", subject, n_constant)
    sums /= counts[:, None].astype(np.float32)  # in place: no float64 copy of a (10000, 15724) array
    split = np.where(np.isin(nsd_ids, plan.design.sharedix), "test", "train")
    ceiling_images = counts[split == "test"] if (split == "test").any() else counts
    return BrainResponses(
        responses=sums,
        stim_ids=np.asarray([stim_id(i) for i in nsd_ids]),
        split=split,
        noise_ceiling=noise_ceiling_r(plan.ncsnr, ceiling_images),
        rois=plan.rois,
        voxel_ijk=np.argwhere(plan.mask).astype(np.int32),
        affine=np.asarray(plan.affine, dtype=np.float64),
        mask=plan.mask,
        attrs={
            "dataset": "nsd",
            "subject": subject,
            "space": space,
            "beta_version": beta_version,
            "roi": roi,
            "sessions": ",".join(str(info.session) for info in plan.sessions),
            "preprocessing": "betas/300; z-score per voxel within session; mean over repeats",
            "noise_ceiling": "sqrt(ncsnr^2 / (ncsnr^2 + mean(1/n))) over test images (Pearson r)",
            "repeats_per_image": ",".join(
                f"{k}:{v}" for k, v in zip(*np.unique(counts, return_counts=True), strict=True)
            ),
            **({"single_trials": "trial_responses: z-scored trials in presentation order"} if single_trials else {}),
        },
        **trials,
    ).validate(plan.layout.betas_dir(subject))


def _empty_trials(plan: SubjectPlan) -> dict[str, np.ndarray]:
    return {"trial_responses": np.empty((plan.n_trials, int(plan.mask.sum())), dtype=np.float32),
            "trial_rows": np.empty(plan.n_trials, dtype=np.int64),
            "trial_sessions": np.empty(plan.n_trials, dtype=np.int64)}


def _accumulate(sums: np.ndarray, counts: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    # reduceat over sorted rows sums repeats within the session without np.add.at's slowness.
    order = np.argsort(rows, kind="stable")
    unique, starts = np.unique(rows[order], return_index=True)
    sums[unique] += np.add.reduceat(values[order], starts, axis=0)
    counts[unique] += np.diff(np.append(starts, rows.size))


# ---------------------------------------------------------------------------------------------
# Stimulus set
# ---------------------------------------------------------------------------------------------


class _BrickRows(Sequence):
    """Rows of imgBrick read one at a time (a real subject's 10,000 images are 5.4 GB)."""

    def __init__(self, path: Path, rows: np.ndarray, progress: bool = False):
        self.path, self.rows, self.progress = path, rows, progress
        self._handle = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, item: int) -> np.ndarray:
        if not -len(self.rows) <= item < len(self.rows):
            raise IndexError(item)
        if self._handle is None:
            self._handle = h5py.File(self.path, "r")
        return np.asarray(self._handle[STIMULUS_DATASET][int(self.rows[item])])

    def __iter__(self):
        for item in tqdm(range(len(self)), desc="NSD stimuli", disable=not self.progress):
            yield self[item]

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def write_stimuli(
    root: str | os.PathLike,
    nsd_ids: Sequence[int],
    out_dir: str | os.PathLike,
    progress: bool = True,
) -> StimulusSet:
    """Copy the given 73k ids (1-based) from nsd_stimuli.hdf5 into a stimulus set (images.h5).

    Rows are sorted by id (sequential reads of the brick); split is "test" for sharedix.
    """
    layout = NSDLayout(Path(root))
    design = read_expdesign(layout.expdesign)
    nsd_ids = np.unique(np.asarray(nsd_ids, dtype=np.int64))
    n_images = stimulus_count(layout.stimuli)
    if nsd_ids.size == 0 or nsd_ids.min() < 1 or nsd_ids.max() > n_images:
        got = "no ids" if nsd_ids.size == 0 else f"ids {nsd_ids.min()}..{nsd_ids.max()}"
        raise DataValidationError(layout.stimuli, STIMULUS_DATASET, f"rows for 73k ids 1..{n_images}", got)
    rows = _BrickRows(layout.stimuli, nsd_ids - 1, progress)
    splits = np.where(np.isin(nsd_ids, design.sharedix), "test", "train").tolist()
    try:
        return write_stimulus_set(
            out_dir,
            [stim_id(i) for i in nsd_ids],
            rows,
            splits,
            extra_columns={"nsd_id": nsd_ids.tolist()},
            as_h5=True,
        )
    finally:
        rows.close()


def seen_nsd_ids(
    root: str | os.PathLike,
    subjects: Sequence[str],
    sessions: int | Sequence[int] | None = None,
    space: str = SPACE,
    beta_version: str = BETA_VERSION,
    beta_format: str = "auto",
) -> np.ndarray:
    """1-based 73k ids any of ``subjects`` saw in the (present or requested) sessions."""
    layout = NSDLayout(Path(root), space, beta_version)
    design = read_expdesign(layout.expdesign)
    seen = []
    for subject in subjects:
        row = subject_index(subject)
        if row >= design.subjectim.shape[0]:
            raise DataValidationError(layout.expdesign, "subjectim", f"a row for {subject}", design.subjectim.shape)
        available = layout.session_files(subject, beta_format)
        wanted = (
            list(available)
            if sessions is None
            else (list(range(1, sessions + 1)) if isinstance(sessions, int) else list(sessions))
        )
        for session in wanted:
            if session not in available:
                raise DataValidationError(
                    layout.betas_dir(subject), f"betas_session{session:02d}", "a betas file", "missing"
                )
            info = inspect_session(available[session], session)
            seen.append(design.trial_nsd_ids(row, (session - 1) * info.n_trials, info.n_trials))
    return np.unique(np.concatenate(seen)) if seen else np.zeros(0, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Contract files (what the pipeline's data rules write)
# ---------------------------------------------------------------------------------------------


def load_nsd(*, root: str | os.PathLike, responses: str | os.PathLike, subject: str, settings: dict) -> BrainResponses:
    """Rule ``load_nsd``: one subject's ROI voxels, streamed session by session, -> ``responses``."""
    return export_subject(root, subject, responses, **settings)


def load_nsd_stimuli(*, root: str | os.PathLike, stimuli: str | os.PathLike, settings: dict) -> StimulusSet:
    """Rule ``load_nsd_stimuli``: every image the configured subjects saw -> the stimulus set ``stimuli``."""
    return export_stimuli(root, out_dir=stimuli, **settings)


def export_subject(root: str | os.PathLike, subject: str, out_path: str | os.PathLike, **options) -> BrainResponses:
    """Load one subject (``load_subject`` options) and write ``<subject>.h5`` atomically."""

    data = load_subject(root, subject, **options)
    write_brain_responses(out_path, data)
    return data


def export_stimuli(
    root: str | os.PathLike,
    subjects: Sequence[str],
    out_dir: str | os.PathLike,
    sessions: int | Sequence[int] | None = None,
    space: str = SPACE,
    beta_version: str = BETA_VERSION,
    beta_format: str = "auto",
    progress: bool = True,
) -> StimulusSet:
    """The stimulus set of every image the loaded subjects saw (the union over subjects)."""
    nsd_ids = seen_nsd_ids(root, subjects, sessions, space, beta_version, beta_format)
    return write_stimuli(root, nsd_ids, out_dir, progress)
