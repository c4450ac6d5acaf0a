"""NevaClip (Zanca et al. 2023): zero-shot scanpaths from CLIP and a differentiable fovea.

Each next fixation is the position of a Gaussian fovea (on a blurred copy of the image, with
a memory of past fixations; ``neurogaze.gaze.nevaclip.foveation``) that maximises the cosine between the
CLIP embedding of the foveated image and the CLIP embedding of a caption or task prompt. The
position is found by sign-gradient descent on ``1 - cos``.

Where this follows the reference (github.com/dario-zanca/NevaClip, ``NeVA.py`` / ``main.py``):
the paper settings (RN50, 224 px, blur kernel 41 / sigma 10, fovea sigma 0.2, 20 steps of
0.1 on the sign of the gradient, 10 fixations, forgetting 0) are :class:`NevaClipConfig`'s
defaults; every fixation's search starts at the image centre; a step whose loss does not
improve on the best loss so far sends the search to a uniform random position in [-1, 1]^2
(the reference's ``random_restarts=True``; with ``random_restarts=False`` it is jittered by
U(-step/2, step/2) instead, the reference's other branch); the fixation is the best position
seen; the memory is ``forgetting * memory + fovea(fixation)``.

Where it differs:

- batching: the reference runs one image at a time; here a batch holds images x ``n_starts``
  search chains (``n_starts = 1`` is the reference; more chains start at random positions and
  the best chain gives the fixation). Every image has its own random generator (seeded from
  the config seed and the stimulus id) from which the same numbers are drawn at every step
  whether they are used or not, so a batched run and a one-at-a-time run follow the same path.
- the fixation recorded is, as in the reference, the position one sign-gradient step past the
  best-scoring one (``record="after_step"``); ``record="evaluated"`` keeps the best-scoring
  position itself.
- positions are clamped to [-1, 1] after each step (the reference does not clamp, and its
  fixations can leave the image); the reference's float16 autocast is not used.
- coordinates are (x, y) in pixels of the original image: a position on the model input is
  mapped back through the backbone's centre crop and resize (:class:`CropGeometry`). The
  reference returns normalised model-input coordinates. Like the reference, the model sees only
  CLIP's centre square of a non-square image, so no fixation can land outside it (for a 4:3
  image such as MIT1003's 1024 x 768 or OSIE's 800 x 600, the outer eighth of the width on
  each side): nothing is predicted there. ``benchmarks/nevaclip_crop.py`` measures the share of
  human fixations this loses on real OSIE.
- durations are not modelled: every fixation gets the configured constant ``duration_ms``
  (the fixation contract needs finite durations), and onsets are their running sum.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from neurogaze.data.contracts import FIXATION_COLUMNS, StimulusSet
from neurogaze.errors import ConfigError, DataValidationError
from neurogaze.gaze.nevaclip.foveation import foveate, gaussian_blur, update_memory
from neurogaze.io import atomic_path, safe_file_name
from neurogaze.runlog import derive_seed

logger = logging.getLogger(__name__)

# A loss per row of foveated images (N, 3, S, S in [0, 1]); ``rows`` (N,) says which image of
# the batch each row belongs to. Lower is better.
Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


RECORDS = ("after_step", "evaluated")


@dataclass(frozen=True)
class NevaClipConfig:
    """NevaClip settings (config section ``nevaclip`` without the workflow's ``enabled`` and
    ``datasets`` and the ``backbone``, which the stage builds); the defaults are the paper's
    (Zanca et al. 2023, reference ``main.py``) and the schema's. ``seed`` seeds each scanpath's
    search together with the stimulus id, as given (it is not derived from the master seed)."""

    n_fixations: int = 10
    opt_steps: int = 20
    step_size: float = 0.1
    fovea_sigma: float = 0.2
    fovea_amplitude: float = 1.0
    blur_kernel: int = 41
    blur_sigma: float = 10.0
    forgetting: float = 0.0
    random_restarts: bool = True
    # "after_step": a fixation is the position one sign-gradient step past the best-scoring one,
    # as NeVA.py stores it (its best position is copied after the in-place step); "evaluated":
    # the best-scoring position itself
    record: str = "after_step"
    n_starts: int = 1
    batch_size: int = 8
    duration_ms: float = 250.0
    free_viewing_prompt: str = "a photo"
    target_prompt: str = "a photo of a {target}"
    seed: int = 0

    def __post_init__(self):
        positive = ("n_fixations", "opt_steps", "n_starts", "batch_size")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(None, f"nevaclip.{name}", f"a positive integer, got {getattr(self, name)}")
        for name in ("step_size", "fovea_sigma", "blur_sigma", "fovea_amplitude"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(None, f"nevaclip.{name}", f"a positive number, got {getattr(self, name)}")
        if self.blur_kernel < 1 or self.blur_kernel % 2 == 0:
            raise ConfigError(None, "nevaclip.blur_kernel", f"an odd positive kernel size, got {self.blur_kernel}")
        if not 0.0 <= self.forgetting <= 1.0:
            raise ConfigError(None, "nevaclip.forgetting", f"a factor in [0, 1], got {self.forgetting}")
        if not self.duration_ms >= 0:
            raise ConfigError(None, "nevaclip.duration_ms", f"a non-negative duration, got {self.duration_ms}")
        if self.record not in RECORDS:
            raise ConfigError(None, "nevaclip.record", f"one of {RECORDS}, got {self.record!r}")
        if "{target}" not in self.target_prompt:
            raise ConfigError(None, "nevaclip.target_prompt", "a template containing '{target}'")

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Model input: the backbone's resize + centre crop as tensors, and the way back to image pixels
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CropGeometry:
    """How an original image (width x height) became the square model input of ``size`` pixels.

    The image is resized to ``resized`` = (width, height) and a ``size`` square is cut at
    (``left``, ``top``). Coordinates are continuous pixel coordinates (pixel i spans [i, i + 1)).
    """

    width: int
    height: int
    resized: tuple[int, int]
    left: int
    top: int
    size: int

    def to_image(self, positions: np.ndarray) -> np.ndarray:
        """Normalised model-input positions (..., 2) in [-1, 1] -> (x, y) in original-image pixels."""
        positions = np.asarray(positions, dtype=float)
        crop = (positions + 1.0) / 2.0 * (self.size - 1) + 0.5
        scale = np.array([self.width / self.resized[0], self.height / self.resized[1]])
        return (crop + np.array([self.left, self.top])) * scale

    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) in original-image pixels: the part of the image the model sees, where
        every NevaClip fixation lies (positions are clamped to the model input)."""
        scale_x, scale_y = self.width / self.resized[0], self.height / self.resized[1]
        return (self.left * scale_x, self.top * scale_y,
                (self.left + self.size) * scale_x, (self.top + self.size) * scale_y)

    def outside(self, xy: np.ndarray) -> np.ndarray:
        """Which (x, y) image positions (..., 2) lie outside :meth:`box`: places NevaClip cannot fixate."""
        x0, y0, x1, y1 = self.box()
        xy = np.asarray(xy, dtype=float)
        return (xy[..., 0] < x0) | (xy[..., 0] >= x1) | (xy[..., 1] < y0) | (xy[..., 1] >= y1)

    def to_normalised(self, xy: np.ndarray) -> np.ndarray:
        """(x, y) in original-image pixels -> normalised model-input positions (inverse of ``to_image``)."""
        xy = np.asarray(xy, dtype=float)
        scale = np.array([self.resized[0] / self.width, self.resized[1] / self.height])
        crop = xy * scale - np.array([self.left, self.top])
        return (crop - 0.5) / (self.size - 1) * 2.0 - 1.0


# Preprocessing steps that do not move pixels (open_clip's colour conversion and to-tensor).
_NON_GEOMETRIC = ("MaybeConvertMode", "MaybeToTensor", "ToTensor", "Normalize", "function")


def _geometric_steps(backbone) -> tuple[object, object]:
    """The backbone's Resize and CenterCrop transforms; anything else that moves pixels is refused."""
    from torchvision.transforms import CenterCrop, Resize

    resize = crop = None
    for step in getattr(backbone.preprocess, "transforms", []):
        if isinstance(step, Resize):
            resize = step
        elif isinstance(step, CenterCrop):
            crop = step
        elif type(step).__name__ not in _NON_GEOMETRIC:
            raise ConfigError(None, f"backbones.{backbone.name}", f"preprocessing NevaClip can map back, got {step}")
    if resize is None or crop is None:
        raise ConfigError(None, f"backbones.{backbone.name}", "preprocessing with Resize and CenterCrop")
    return resize, crop


def crop_geometry(backbone, width: int, height: int) -> CropGeometry:
    """Where an image of ``width`` x ``height`` lands in the backbone's model input.

    Same arithmetic as torchvision's ``Resize`` (shorter side to ``size``, the longer side
    ``int(size * long / short)``) and ``CenterCrop`` (offset ``round((resized - crop) / 2)``).
    """
    resize, crop = _geometric_steps(backbone)
    size = resize.size if isinstance(resize.size, int) else list(resize.size)
    if isinstance(size, list) and len(size) == 2:
        new_w, new_h = int(size[1]), int(size[0])
    else:
        short_target = size if isinstance(size, int) else int(size[0])
        short, long = min(width, height), max(width, height)
        new_short, new_long = short_target, int(short_target * long / short)
        new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    crop_h, crop_w = crop.size
    if crop_h != crop_w or crop_w > new_w or crop_h > new_h:
        raise ConfigError(None, f"backbones.{backbone.name}",
                          f"a square centre crop inside the resized image, got {crop.size}")
    left = round((new_w - crop_w) / 2.0)
    top = round((new_h - crop_h) / 2.0)
    return CropGeometry(int(width), int(height), (new_w, new_h), left, top, int(crop_w))


def model_input(backbone, images: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[CropGeometry]]:
    """uint8 HxWx3 images -> [0, 1] pixels (N, 3, S, S) on the backbone's device, and their geometry.

    The backbone's own Resize and CenterCrop run on float tensors (no PIL, no 8-bit rounding).
    """
    resize, crop = _geometric_steps(backbone)
    pixels, geometries = [], []
    for image in images:
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise DataValidationError(None, "image", "a uint8 array of shape (H, W, 3)", f"{array.dtype} {array.shape}")
        tensor = torch.from_numpy(array.copy()).to(backbone.device).permute(2, 0, 1).float() / 255.0
        geometry = crop_geometry(backbone, array.shape[1], array.shape[0])
        out = crop(resize(tensor.unsqueeze(0))).clamp(0.0, 1.0)
        if tuple(out.shape[-2:]) != (geometry.size, geometry.size):
            raise ConfigError(None, f"backbones.{backbone.name}",
                              f"a {geometry.size} px model input, got {tuple(out.shape)}")
        pixels.append(out[0])
        geometries.append(geometry)
    return torch.stack(pixels), geometries


# ---------------------------------------------------------------------------------------------
# The search
# ---------------------------------------------------------------------------------------------


def image_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per image (the random restarts of an image use only its own)."""
    return [torch.Generator().manual_seed(int(seed)) for seed in seeds]


def _draw(generators: list[torch.Generator], n_starts: int, device) -> torch.Tensor:
    """U(-1, 1) of shape (B, K, 2), each image's block from its own generator."""
    draws = torch.stack([torch.rand((n_starts, 2), generator=g, dtype=torch.float64) for g in generators])
    return (draws * 2.0 - 1.0).to(device=device, dtype=torch.float32)


def search_scanpaths(
    objective: Objective,
    pixels: torch.Tensor,
    config: NevaClipConfig,
    generators: list[torch.Generator],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scanpaths of a batch of images: normalised (x, y) positions (B, n_fixations, 2) and their losses.

    ``objective`` scores foveated images (lower is better); ``pixels`` are (B, 3, S, S) in [0, 1];
    ``generators`` one per image. The search runs on B x ``n_starts`` rows at once.
    """
    batch, _, size, _ = pixels.shape
    if len(generators) != batch:
        raise DataValidationError(None, "generators", f"one generator per image ({batch})", len(generators))
    n_starts, device = config.n_starts, pixels.device
    rows = torch.arange(batch, device=device).repeat_interleave(n_starts)
    sharp = pixels[rows]
    blurred = gaussian_blur(pixels, config.blur_kernel, config.blur_sigma)[rows]
    memory = torch.zeros((batch, 1, size, size), device=device, dtype=pixels.dtype)
    fixations, losses = [], []
    for _ in range(config.n_fixations):
        position, loss = _one_fixation(objective, sharp, blurred, memory[rows], rows, config, generators)
        memory = update_memory(memory, position, config.fovea_sigma, config.forgetting, config.fovea_amplitude)
        fixations.append(position)
        losses.append(loss)
    return torch.stack(fixations, 1), torch.stack(losses, 1)


def _one_fixation(objective, sharp, blurred, memory, rows, config, generators):
    batch, n_starts = len(generators), config.n_starts
    device = sharp.device
    # chain 0 starts at the centre (the reference); further chains at random positions
    position = _draw(generators, n_starts, device)
    position[:, 0] = 0.0
    position = position.reshape(batch * n_starts, 2)
    best_loss = torch.full((batch * n_starts,), float("inf"), device=device)
    best_position = position.clone()
    for _ in range(config.opt_steps):
        position = position.detach().requires_grad_(True)
        with torch.enable_grad():
            foveated = foveate(sharp, blurred, memory, position, config.fovea_sigma, config.fovea_amplitude)
            loss = objective(foveated, rows)
            (grad,) = torch.autograd.grad(loss.sum(), position)
        loss = loss.detach().float()
        improved = loss < best_loss
        best_loss = torch.where(improved, loss, best_loss)
        stepped = position.detach() - config.step_size * torch.sign(grad)
        kept = stepped.clamp(-1.0, 1.0) if config.record == "after_step" else position.detach()
        best_position = torch.where(improved[:, None], kept, best_position)
        draws = _draw(generators, n_starts, device).reshape(batch * n_starts, 2)
        if config.random_restarts:
            elsewhere = draws
        else:
            elsewhere = stepped + draws * (config.step_size / 2.0)
        position = torch.where(improved[:, None], stepped, elsewhere).clamp(-1.0, 1.0)
    best_loss = best_loss.view(batch, n_starts)
    chain = torch.argmin(best_loss, dim=1)
    picked = torch.arange(batch, device=device)
    return best_position.view(batch, n_starts, 2)[picked, chain], best_loss[picked, chain]


# ---------------------------------------------------------------------------------------------
# CLIP objective and the public entry points
# ---------------------------------------------------------------------------------------------


def clip_objective(backbone, text_embeddings: torch.Tensor) -> Objective:
    """``1 - cos(CLIP(foveated image), text)`` per row (the reference's ``cosine_sim`` loss)."""
    _, normalise = backbone._split_preprocess()
    targets = torch.nn.functional.normalize(text_embeddings.float(), dim=-1)

    def objective(foveated: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        image = backbone.model.encode_image(normalise(foveated)).float()
        image = torch.nn.functional.normalize(image, dim=-1)
        return 1.0 - (image * targets[rows]).sum(-1)

    return objective


def predict_scanpaths(
    backbone,
    images: Sequence[np.ndarray],
    prompts: Sequence[str],
    seeds: Sequence[int],
    config: NevaClipConfig = NevaClipConfig(),
    batch_size: int | None = None,
    progress: bool = False,
) -> tuple[list[np.ndarray], np.ndarray]:
    """NevaClip scanpaths of ``images`` guided by ``prompts`` (one per image).

    Returns a list of (n_fixations, 2) arrays of (x, y) in original-image pixels, and the final
    loss (1 - cosine) of each fixation, (n_images, n_fixations). ``seeds`` (one per image) fix
    the random restarts; ``batch_size`` images (default ``config.batch_size``) run together.
    """
    if not (len(images) == len(prompts) == len(seeds)):
        raise DataValidationError(
            None, "images/prompts/seeds", "sequences of equal length", (len(images), len(prompts), len(seeds))
        )
    batch_size = int(batch_size or config.batch_size)
    texts = torch.as_tensor(backbone.encode_texts(list(prompts)), device=backbone.device)
    paths, losses = [], []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="NevaClip", disable=not progress):
        stop = start + batch_size
        pixels, geometries = model_input(backbone, images[start:stop])
        objective = clip_objective(backbone, texts[start:stop])
        positions, loss = search_scanpaths(objective, pixels, config, image_generators(seeds[start:stop]))
        positions = positions.detach().cpu().numpy().astype(np.float64)
        paths.extend(geometry.to_image(path) for geometry, path in zip(geometries, positions))
        losses.append(loss.detach().cpu().numpy())
    return paths, np.concatenate(losses) if losses else np.zeros((0, config.n_fixations), np.float32)


def image_seed(config: NevaClipConfig, stim_id: str, *names: str) -> int:
    """The seed of one scanpath's search: depends only on the config seed, the stimulus id and
    (for one scanpath per caption) the observer and trial the caption belongs to."""
    return derive_seed(int(config.seed), "nevaclip", str(stim_id), *[str(name) for name in names])


def prompt_for(config: NevaClipConfig, target: str | None = None, caption: str | None = None) -> str:
    """The guiding text: a caption if given, else the search target's prompt, else the free-viewing one."""
    if caption is not None and not pd.isna(caption) and str(caption).strip():
        return str(caption)
    if target is not None and not pd.isna(target) and str(target).strip():
        return config.target_prompt.format(target=target)
    return config.free_viewing_prompt


REQUEST_COLUMNS = ("stim_id", "subject", "trial", "prompt", "task", "target", "seed")
# the caption or target's prompt; the free-viewing prompt for all; and the paper's two caption
# controls: another observer's caption of the same image, a caption of another image
GUIDES = ("guided", "free_viewing", "other_subject", "other_image")
CAPTION_CONTROLS = ("other_subject", "other_image")


def scanpath_requests(
    stim_ids: Sequence[str],
    config: NevaClipConfig,
    humans: pd.DataFrame | None = None,
    captions: pd.DataFrame | dict[str, str] | None = None,
    model_name: str = "nevaclip",
    guide: str = "guided",
) -> pd.DataFrame:
    """What to predict: one row per scanpath (stim_id, subject, trial, prompt, task, target, seed).

    Without ``captions``: one scanpath per image, ``subject`` = ``model_name``, prompted by the
    image's search target (``target`` column of ``humans``) or the free-viewing prompt.
    ``captions`` as a dict (stim_id -> text): one scanpath per image prompted by its caption.
    ``captions`` as a table with ``stim_id``, ``subject``, ``trial``, ``caption`` (e.g.
    CapMIT1003's ``captions``): one scanpath per caption, as the paper does, with ``subject`` =
    ``<model_name>/<observer>`` and the observer's trial, so it can be paired with that
    observer's own scanpath.

    ``guide="free_viewing"`` keeps the same scanpaths and seeds but prompts every one with the
    free-viewing prompt: the control that shows what the caption or target adds. With captions,
    the paper's controls keep them too but prompt each with another observer's caption of the
    same image (``"other_subject"``: the next observer in order, cyclically) or with a caption of
    another image (``"other_image"``: the next image in order, the same observer's caption when
    there is one); scanpaths with no such caption are left out.
    """
    if guide not in GUIDES:
        raise ConfigError(None, "guide", f"one of {list(GUIDES)}, got {guide!r}")
    if guide in CAPTION_CONTROLS and not isinstance(captions, pd.DataFrame):
        raise ConfigError(None, "guide", f"{guide!r} needs a caption table (one caption per observer)")
    tasks, targets = _tasks_and_targets(humans, list(stim_ids))
    task_of, target_of = dict(zip(stim_ids, tasks)), dict(zip(stim_ids, targets))
    if isinstance(captions, pd.DataFrame):
        needed = {"stim_id", "subject", "trial", "caption"}
        if not needed <= set(captions.columns):
            raise DataValidationError(None, "captions", f"a table with columns {sorted(needed)}",
                                      sorted(captions.columns))
        chosen = captions[captions["stim_id"].isin(set(stim_ids))].sort_values(["stim_id", "subject", "trial"])
        rows = [
            {
                "stim_id": row.stim_id,
                "subject": f"{model_name}/{row.subject}",
                "trial": int(row.trial),
                "prompt": prompt_for(config, caption=row.caption),
                "task": "captioning",
                "target": target_of[row.stim_id],
                "seed": image_seed(config, row.stim_id, row.subject, row.trial),
            }
            for row in chosen.itertuples(index=False)
        ]
    else:
        rows = [
            {
                "stim_id": stim_id,
                "subject": model_name,
                "trial": 0,
                "prompt": prompt_for(config, target_of[stim_id], (captions or {}).get(stim_id)),
                "task": task_of[stim_id],
                "target": target_of[stim_id],
                "seed": image_seed(config, stim_id),
            }
            for stim_id in stim_ids
        ]
    requests = pd.DataFrame(rows, columns=list(REQUEST_COLUMNS))
    if guide == "free_viewing":
        requests["prompt"] = config.free_viewing_prompt
    if guide in CAPTION_CONTROLS:
        requests = _control_prompts(requests, chosen, config, guide)
    return requests


def _control_prompts(requests: pd.DataFrame, chosen: pd.DataFrame, config: NevaClipConfig, guide: str) -> pd.DataFrame:
    """The requests re-prompted with a control caption (see :func:`scanpath_requests`)."""
    by_image = {stim: group.reset_index(drop=True) for stim, group in chosen.groupby("stim_id", sort=True)}
    images = sorted(by_image)
    prompts = []
    for row in chosen.itertuples(index=False):
        others = by_image[row.stim_id]
        if guide == "other_subject":
            if len(others) < 2:
                prompts.append(None)
                continue
            position = int(np.flatnonzero((others["subject"] == row.subject) & (others["trial"] == row.trial))[0])
            prompts.append(others["caption"].iloc[(position + 1) % len(others)])
            continue
        if len(images) < 2:
            prompts.append(None)
            continue
        elsewhere = by_image[images[(images.index(row.stim_id) + 1) % len(images)]]
        same_observer = elsewhere[elsewhere["subject"] == row.subject]
        prompts.append((same_observer if len(same_observer) else elsewhere)["caption"].iloc[0])
    keep = np.array([prompt is not None for prompt in prompts])
    requests = requests[keep].copy()
    requests["prompt"] = [prompt_for(config, caption=p) for p in prompts if p is not None]
    return requests.reset_index(drop=True)


def scanpath_table(requests: pd.DataFrame, paths: Sequence[np.ndarray], dataset: str,
                   config: NevaClipConfig) -> pd.DataFrame:
    """Predicted scanpaths (one per request row) as a fixation-contract table.

    Durations are the constant ``config.duration_ms`` (NevaClip does not model them); onsets
    are their running sum.
    """
    frames = []
    for request, path in zip(requests.itertuples(index=False), paths):
        n = len(path)
        frames.append(
            pd.DataFrame(
                {
                    "dataset": dataset,
                    "stim_id": request.stim_id,
                    "subject": request.subject,
                    "trial": request.trial,
                    "fix_index": np.arange(n),
                    "x": path[:, 0],
                    "y": path[:, 1],
                    "t_start_ms": np.arange(n) * float(config.duration_ms),
                    "duration_ms": float(config.duration_ms),
                    "object_id": pd.NA,
                    "task": request.task,
                    "target": request.target,
                }
            )
        )
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in FIXATION_COLUMNS.items()})
    return pd.concat(frames, ignore_index=True).astype(FIXATION_COLUMNS)


def nevaclip_fixations(
    backbone,
    stimuli: StimulusSet,
    dataset: str,
    config: NevaClipConfig = NevaClipConfig(),
    humans: pd.DataFrame | None = None,
    captions: pd.DataFrame | dict[str, str] | None = None,
    stim_ids: Sequence[str] | None = None,
    model_name: str = "nevaclip",
    resume_dir: str | os.PathLike | None = None,
    progress: bool = True,
    guide: str = "guided",
) -> pd.DataFrame:
    """NevaClip scanpaths of the images of ``stimuli`` (or of ``stim_ids``), as a fixation table.

    What is predicted (one scanpath per image, or per caption) and how it is prompted:
    :func:`scanpath_requests` (``guide``: the captions and targets, or the free-viewing prompt
    for all). Scanpaths are searched ``config.batch_size`` at a time, each
    batch's images read only for that batch. With ``resume_dir``, each scanpath is kept there
    (keyed by backbone, weights, settings, prompt and seed) as soon as its batch is done, and a
    rerun only searches the ones not yet there; since every scanpath has its own seed, a
    resumed run gives the same table as an uninterrupted one.
    """
    stim_ids = list(stim_ids) if stim_ids is not None else list(stimuli.stim_ids)
    missing = sorted(set(stim_ids) - set(stimuli.stim_ids))
    if missing:
        raise DataValidationError(stimuli.root / "index.parquet", "stim_id", "ids present in the stimulus index",
                                  missing[:5])
    requests = scanpath_requests(stim_ids, config, humans, captions, model_name, guide)
    cache = _ScanpathCache(resume_dir, backbone, config) if resume_dir is not None else None
    paths: dict[int, np.ndarray] = {}
    if cache is not None:
        for i, request in enumerate(requests.itertuples(index=False)):
            found = cache.load(request)
            if found is not None:
                paths[i] = found
        if paths:
            logger.info("NevaClip: %d of %d scanpaths found in %s", len(paths), len(requests), resume_dir)
    todo = [i for i in range(len(requests)) if i not in paths]
    with tqdm(total=len(todo), desc="NevaClip", unit="scanpath", disable=not progress) as bar:
        for start in range(0, len(todo), config.batch_size):
            batch = requests.iloc[todo[start:start + config.batch_size]]
            images = dict(stimuli.iter_images(sorted(set(batch["stim_id"]))))
            found, _ = predict_scanpaths(
                backbone, [images[s] for s in batch["stim_id"]], list(batch["prompt"]), list(batch["seed"]), config
            )
            for i, request, path in zip(todo[start:start + config.batch_size], batch.itertuples(index=False), found):
                paths[i] = path
                if cache is not None:
                    cache.save(request, path)
            bar.update(len(batch))
    return scanpath_table(requests, [paths[i] for i in range(len(requests))], dataset, config)


def _tasks_and_targets(humans: pd.DataFrame | None, stim_ids: list[str]) -> tuple[list[str], list]:
    if humans is None or humans.empty:
        return ["free_viewing"] * len(stim_ids), [pd.NA] * len(stim_ids)
    first = humans.groupby("stim_id", sort=False)[["task", "target"]].first()
    tasks = [str(first.at[s, "task"]) if s in first.index else "free_viewing" for s in stim_ids]
    targets = [first.at[s, "target"] if s in first.index else pd.NA for s in stim_ids]
    return tasks, targets


class _ScanpathCache:
    """Finished scanpaths on disk, one .npy per scanpath, named by what determines them."""

    def __init__(self, folder: str | os.PathLike, backbone, config: NevaClipConfig):
        self.folder = Path(folder)
        self.key = {
            "backbone": backbone.name,
            "weights": str(backbone.weights_file),
            "config": {k: v for k, v in config.to_dict().items() if k != "batch_size"},
        }

    def _file(self, request) -> Path:
        payload = json.dumps({**self.key, "prompt": request.prompt, "seed": int(request.seed)}, sort_keys=True)
        digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
        return self.folder / f"{safe_file_name(str(request.stim_id))}-{digest}.npy"

    def load(self, request) -> np.ndarray | None:
        file = self._file(request)
        return np.load(file) if file.is_file() else None

    def save(self, request, path: np.ndarray) -> None:
        file = self._file(request)
        file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(file) as temp, open(temp, "wb") as handle:
            np.save(handle, np.asarray(path, dtype=np.float64))


__all__ = [
    "GUIDES",
    "CropGeometry",
    "NevaClipConfig",
    "clip_objective",
    "crop_geometry",
    "image_generators",
    "image_seed",
    "model_input",
    "nevaclip_fixations",
    "predict_scanpaths",
    "prompt_for",
    "scanpath_requests",
    "scanpath_table",
    "search_scanpaths",
]
