"""Stimulus images for synthetic data sets: scenes of the demo world, real photographs,
controlled attributes, faces.

Everything here is offline and seeded. Scenes are the demo world's (``world.scene``: named objects
on places, with their boxes); real photographs come from the ~20 pictures that scikit-image ships
(crops, flips and colour changes multiply them); controlled images vary one attribute at a time
(colour, orientation, spatial frequency); faces come from ``skimage.data.lfw_subset`` (the first
100 of its 200 patches are faces, the rest are not).
The attribute measures at the bottom are what the synthetic brains respond to, so generators
and the methods that try to recover those attributes use the same definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data as skdata

from neurogaze.data.synthetic import world

# Photographs that ship inside the scikit-image wheel (others are fetched on demand and would
# need the internet). Grey-scale ones are turned into RGB.
PHOTO_NAMES = (
    "astronaut",
    "cat",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "rocket",
    "motorcycle_left",
    "motorcycle_right",
    "camera",
    "coins",
    "moon",
    "grass",
    "gravel",
    "brick",
    "clock",
    "page",
    "text",
    "cell",
)
IMAGE_KINDS = ("scene", "photo", "grating", "colour", "face", "nonface")
# What a scene's objects are about (world.OBJECTS categories a brain region can prefer), plus the
# place itself: the share of the scene no object covers.
CONCEPTS = ("face", "text", "animal", "food", "place")
PHOTO_MAX_SIDE = 320
LFW_N_FACES = 100  # skimage.data.lfw_subset: rows 0-99 are faces, 100-199 are not


@dataclass(frozen=True)
class StimulusImage:
    """One generated image and how it was made (kind and the generating parameters)."""

    image: np.ndarray  # uint8 (size, size, 3)
    kind: str
    params: dict


def load_photo(name: str) -> np.ndarray:
    """A scikit-image photograph as uint8 RGB."""
    return _photo(name).copy()


@cache
def _photo(name: str) -> np.ndarray:
    if name.startswith("motorcycle_"):
        left, right, _ = skdata.stereo_motorcycle()
        image = left if name.endswith("left") else right
    else:
        image = getattr(skdata, name)()
    image = _to_rgb_uint8(image)
    # Stimuli are small; shrinking the big photographs once keeps every crop cheap.
    scale = PHOTO_MAX_SIDE / max(image.shape[:2])
    if scale < 1:
        image = _resize(image, (round(image.shape[0] * scale), round(image.shape[1] * scale)))
    return image


@lru_cache(maxsize=1)
def _lfw() -> np.ndarray:
    return skdata.lfw_subset()  # (200, 25, 25) float in [0, 1]


def _to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.dtype != np.uint8:
        image = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3]


def _resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Antialiased resize of an RGB image (values 0-255) to ``size`` (side or (height, width))."""
    height, width = (size, size) if isinstance(size, int) else size
    image = Image.fromarray(np.clip(np.round(np.asarray(image, dtype=float)), 0, 255).astype(np.uint8))
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS))


def photo_variant(rng: np.random.Generator, size: int, name: str | None = None) -> StimulusImage:
    """A random square crop of a photograph, possibly flipped and colour-shifted."""
    name = name or PHOTO_NAMES[int(rng.integers(len(PHOTO_NAMES)))]
    photo = _photo(name)
    height, width = photo.shape[:2]
    side = int(min(height, width) * rng.uniform(0.35, 1.0))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    image = photo[top : top + side, left : left + side]
    flip = bool(rng.random() < 0.5)
    if flip:
        image = image[:, ::-1]
    # A per-channel gain moves colour (warmth) independently of content.
    gains = rng.uniform(0.75, 1.25, size=3)
    image = np.clip(image.astype(float) * gains, 0, 255)
    params = {"photo": name, "crop": [top, left, side], "flip": flip, "gains": gains.round(4).tolist()}
    return StimulusImage(_resize(image, size), "photo", params)


def grating(
    size: int,
    orientation_deg: float,
    cycles_per_image: float,
    phase: float = 0.0,
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0),
    contrast: float = 1.0,
) -> np.ndarray:
    """A sinusoidal grating; orientation 0 means vertical stripes (luminance varies along x)."""
    y, x = np.mgrid[0:size, 0:size] / size
    theta = np.deg2rad(orientation_deg)
    wave = np.cos(2 * np.pi * cycles_per_image * (x * np.cos(theta) + y * np.sin(theta)) + phase)
    luminance = 0.5 + 0.5 * contrast * wave
    image = luminance[..., None] * np.asarray(colour, dtype=float)[None, None, :]
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def random_grating(rng: np.random.Generator, size: int) -> StimulusImage:
    params = {
        "orientation_deg": float(rng.choice([0.0, 45.0, 90.0, 135.0]) + rng.normal(0, 5)),
        "cycles_per_image": float(np.exp(rng.uniform(np.log(1.5), np.log(size / 4)))),
        "phase": float(rng.uniform(0, 2 * np.pi)),
        "colour": rng.uniform(0.3, 1.0, size=3).round(4).tolist(),
        "contrast": float(rng.uniform(0.5, 1.0)),
    }
    return StimulusImage(grating(size, **params), "grating", params)


def colour_field(rng: np.random.Generator, size: int) -> StimulusImage:
    """A smooth two-colour blend: varies warmth with little orientation or fine structure."""
    first, second = rng.uniform(0, 1, size=(2, 3))
    angle = float(rng.uniform(0, 2 * np.pi))
    y, x = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    ramp = (np.cos(angle) * (x - 0.5) + np.sin(angle) * (y - 0.5)) + 0.5
    ramp = np.clip(ramp, 0, 1)[..., None]
    image = (1 - ramp) * first + ramp * second
    params = {"colours": [first.round(4).tolist(), second.round(4).tolist()], "angle": angle}
    return StimulusImage(np.clip(np.round(image * 255), 0, 255).astype(np.uint8), "colour", params)


def lfw_image(index: int, size: int, tint: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> StimulusImage:
    """Row ``index`` of lfw_subset (faces are rows 0-99) as an RGB image, optionally tinted."""
    patch = _lfw()[index]
    image = np.clip(patch[..., None] * np.asarray(tint)[None, None, :], 0, 1)
    kind = "face" if index < LFW_N_FACES else "nonface"
    params = {"lfw_index": int(index), "tint": list(tint)}
    return StimulusImage(_resize(image * 255, size), kind, params)


def world_scene(rng: np.random.Generator, size: int, light: float = 0.0,
                blur_sigma: tuple[float, float] = (0.0, 0.0)) -> StimulusImage:
    """A scene of the demo world (``world.scene``) as seen under random viewing conditions: its
    place under a light of random warmth (red gain 1 + c, blue gain 1 - c, c uniform in
    +-``light``; the objects keep their colours) and the whole scene in random focus (Gaussian
    blur, sigma uniform in ``blur_sigma`` px). Without them warmth and spatial frequency would be
    properties of the places and objects (brick is warm, grass is fine-grained), and a readout of
    either a readout of what the scene shows. The background, the objects (noun, category,
    colour, size, position, box), the cast and the blur are the parameters."""
    cast = float(rng.uniform(-light, light)) if light else 0.0
    sigma = float(rng.uniform(*blur_sigma)) if blur_sigma[1] > 0 else 0.0
    image, content = world.scene(rng, world.WorldConfig(image_size=size), light=cast)
    if sigma > 0:
        image = np.clip(np.round(gaussian_filter(image.astype(float), sigma=(sigma, sigma, 0))), 0, 255)
        image = image.astype(np.uint8)
    params = {"background": content["background"], "objects": content["objects"], "captions": content["captions"],
              "light": round(cast, 4), "blur_sigma": round(sigma, 4)}
    return StimulusImage(image, "scene", params)


def concept_shares(stimuli: list[StimulusImage]) -> dict[str, np.ndarray]:
    """Per concept of ``CONCEPTS``, the share of each image it covers: the union of the boxes of
    a scene's objects of that category, the uncovered rest for ``place``; an lfw face patch is all
    face. Images without objects (gratings, colour fields, photographs) score 0 throughout."""
    shares = {concept: np.zeros(len(stimuli)) for concept in CONCEPTS}
    for index, item in enumerate(stimuli):
        if item.kind == "face":
            shares["face"][index] = 1.0
        if item.kind != "scene":
            continue
        objects, shape = item.params["objects"], item.image.shape[:2]
        for concept in CONCEPTS[:-1]:
            shares[concept][index] = _boxes([obj for obj in objects if obj["category"] == concept], shape).mean()
        shares["place"][index] = 1.0 - _boxes(objects, shape).mean()
    return shares


def _boxes(objects: list[dict], shape: tuple[int, int]) -> np.ndarray:
    """The union of the objects' boxes (x, y, width, height) as a boolean mask of ``shape``."""
    mask = np.zeros(shape, bool)
    for obj in objects:
        x, y, width, height = obj["bbox"]
        mask[y:y + height, x:x + width] = True
    return mask


def make_stimuli(
    n: int,
    size: int,
    rng: np.random.Generator,
    proportions: dict[str, float] | None = None,
    scene_light: float = 0.0,
    scene_blur_sigma: tuple[float, float] = (0.0, 0.0),
) -> list[StimulusImage]:
    """``n`` images mixing kinds in the given proportions (default: mostly photographs); scenes
    are seen as ``world_scene`` says, with casts up to ``scene_light`` and blur in
    ``scene_blur_sigma``."""
    proportions = proportions or {"photo": 0.45, "grating": 0.15, "colour": 0.1, "face": 0.2, "nonface": 0.1}
    unknown = set(proportions) - set(IMAGE_KINDS)
    if unknown:
        raise ValueError(f"unknown image kinds {sorted(unknown)}; known: {IMAGE_KINDS}")
    weights = np.asarray([proportions.get(kind, 0.0) for kind in IMAGE_KINDS], dtype=float)
    counts = np.floor(weights / weights.sum() * n).astype(int)
    counts[int(np.argmax(weights))] += n - counts.sum()  # the remainder goes to the commonest kind
    kinds = np.repeat(np.asarray(IMAGE_KINDS), counts)
    rng.shuffle(kinds)
    faces = rng.permutation(LFW_N_FACES)
    nonfaces = LFW_N_FACES + rng.permutation(LFW_N_FACES)
    n_face = n_nonface = 0
    images = []
    for kind in kinds:
        if kind == "scene":
            images.append(world_scene(rng, size, scene_light, scene_blur_sigma))
        elif kind == "photo":
            images.append(photo_variant(rng, size))
        elif kind == "grating":
            images.append(random_grating(rng, size))
        elif kind == "colour":
            images.append(colour_field(rng, size))
        else:
            # The lfw pool has 100 of each; beyond that the same patch returns with a new tint.
            pool, used = (faces, n_face) if kind == "face" else (nonfaces, n_nonface)
            tint = tuple(rng.uniform(0.7, 1.0, size=3).round(4).tolist())
            images.append(lfw_image(int(pool[used % LFW_N_FACES]), size, tint))
            if kind == "face":
                n_face += 1
            else:
                n_nonface += 1
    return images


# ---------------------------------------------------------------------------------------------
# Attribute measures (what synthetic voxels are selective for)
# ---------------------------------------------------------------------------------------------


def warmth(images: np.ndarray) -> np.ndarray:
    """Mean red minus mean blue, in [-1, 1] (images uint8 (n, h, w, 3))."""
    images = np.asarray(images, dtype=float) / 255.0
    return images[..., 0].mean(axis=(1, 2)) - images[..., 2].mean(axis=(1, 2))


def _power_spectra(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    grey = np.asarray(images, dtype=float).mean(axis=3) / 255.0
    grey = grey - grey.mean(axis=(1, 2), keepdims=True)
    height, width = grey.shape[1:]
    window = np.outer(np.hanning(height), np.hanning(width))  # no edge artefacts at 0/90 deg
    power = np.abs(np.fft.fft2(grey * window)) ** 2
    fy = np.fft.fftfreq(height)[:, None] * np.ones((1, width))
    fx = np.ones((height, 1)) * np.fft.fftfreq(width)[None, :]
    return power, fx, fy


def vertical_energy(images: np.ndarray, half_width_deg: float = 22.5) -> np.ndarray:
    """Fraction of (non-DC) Fourier power within ``half_width_deg`` of the horizontal
    frequency axis, i.e. in vertical structure (stripes that vary along x)."""
    power, fx, fy = _power_spectra(images)
    radius = np.hypot(fx, fy)
    angle = np.rad2deg(np.arctan2(np.abs(fy), np.abs(fx)))  # 0 deg: frequency along x
    vertical = (angle <= half_width_deg) & (radius > 0)
    total = power[:, radius > 0].sum(axis=1)
    return power[:, vertical].sum(axis=1) / np.maximum(total, 1e-12)


def spatial_frequency(images: np.ndarray) -> np.ndarray:
    """Power-weighted mean radial frequency in cycles per image width (non-DC power)."""
    power, fx, fy = _power_spectra(images)
    radius = np.hypot(fx, fy)
    keep = radius > 0
    weighted = (power[:, keep] * radius[keep]).sum(axis=1)
    return weighted / np.maximum(power[:, keep].sum(axis=1), 1e-12) * np.asarray(images).shape[2]


ATTRIBUTES = {
    "warmth": warmth,
    "vertical_energy": vertical_energy,
    "spatial_frequency": spatial_frequency,
}


def image_attributes(images: np.ndarray, kinds: list[str] | None = None) -> dict[str, np.ndarray]:
    """Every attribute measure for a stack of images; ``face`` (0/1) too when kinds are given."""
    images = np.asarray(images)
    values = {name: np.asarray(fn(images), dtype=float) for name, fn in ATTRIBUTES.items()}
    if kinds is not None:
        values["face"] = np.asarray([kind == "face" for kind in kinds], dtype=float)
    return values
