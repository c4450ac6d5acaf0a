"""The demo world: captioned scenes of named objects, written in the COCO captions layout.

A scene is a place-like background (a brick wall, grass, gravel, the night sky: textures and
photographs that scikit-image ships) with one or two planted objects on it. An object has a noun
and a category (a face from ``lfw_subset``; text cut from scikit-image's scanned text; a cat and a
horse; a rocket and a motorcycle; a cup of coffee; a ball or a box, each red, green, blue or
yellow), a size (small or large) and a position (left or right). Every scene gets captions from a
small grammar ("a red ball left of a face on a brick wall."), and its objects' boxes.

The set is written as COCO writes its captions release: ``annotations/captions_<split>.json`` and
``annotations/instances_<split>.json`` (images, annotations with boxes, categories with their
supercategory) and ``<split>/<id>.jpg`` (``train2017/``, ``val2017/``), plus ``ground_truth.json``
with every planted attribute. The same settings and seed give the same bytes.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata

from neurogaze.io import atomic_directory

JPEG_QUALITY = 95
SPLITS = {"train": "train2017", "test": "val2017"}  # our split -> COCO's folder and file names

# noun -> (category, COCO supercategory). The category is what a brain ROI or a zero-shot probe
# is about (a "face" ROI responds to faces); the noun is the word a caption uses.
OBJECTS = {
    "face": ("face", "person"),
    "text": ("text", "text"),
    "cat": ("animal", "animal"),
    "horse": ("animal", "animal"),
    "rocket": ("vehicle", "vehicle"),
    "motorcycle": ("vehicle", "vehicle"),
    "coffee": ("food", "food"),
    "ball": ("shape", "shape"),
    "box": ("shape", "shape"),
}
SHAPES = ("ball", "box")
COLOURS = {"red": (215, 40, 35), "green": (40, 175, 60), "blue": (40, 75, 220), "yellow": (235, 205, 40)}
SIZES = {"small": 0.25, "large": 0.42}  # the object's longer side as a fraction of the scene
BACKGROUNDS = {"brick wall": "brick", "grass": "grass", "gravel": "gravel", "night sky": "hubble_deep_field"}
BACKGROUND_PHRASES = {"brick wall": "a brick wall", "grass": "grass", "gravel": "gravel", "night sky": "the night sky"}
BACKGROUND_TINTS = {"brick wall": (1.0, 0.62, 0.5), "grass": (0.55, 1.0, 0.45), "gravel": (0.95, 0.88, 0.78),
                    "night sky": (1.0, 1.0, 1.0)}
# crops of the scikit-image photographs that hold the object (top, bottom, left, right)
PHOTO_CROPS = {"rocket": ("rocket", (100, 427, 255, 385)), "coffee": ("coffee", (0, 390, 130, 470)),
               "cat": ("chelsea", (0, 300, 75, 375)), "motorcycle": ("motorcycle", (150, 460, 190, 735))}
LFW_FACES = 100  # lfw_subset rows 0-99 are faces


@dataclass(frozen=True)
class WorldConfig:
    """Sizes of the demo world (the defaults are the demo's)."""

    n_train: int = 2000
    n_test: int = 300
    image_size: int = 64
    two_object_fraction: float = 0.45
    captions_per_image: int = 3
    seed: int = 0


# --- sources ------------------------------------------------------------------------------------


@cache
def _grey(name: str) -> np.ndarray:
    return np.asarray(getattr(skdata, name)(), dtype=np.float32) / 255.0


@cache
def photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled colour photographs as float RGB in [0, 1] (the motorcycle: the
    stereo pair's left view)."""
    if name == "motorcycle":
        image = skdata.stereo_motorcycle()[0]
    else:
        image = getattr(skdata, name)()
    return np.asarray(image[..., :3], dtype=np.float32) / 255.0


@cache
def _lfw() -> np.ndarray:
    return np.asarray(skdata.lfw_subset()[:LFW_FACES], dtype=np.float32)


@cache
def _horse() -> np.ndarray:
    return np.asarray(skdata.horse(), dtype=np.float32)  # True on the background


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Float image in [0, 1] (h, w) or (h, w, 3) -> (height, width[, 3]), antialiased."""
    pixels = np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
    resized = Image.fromarray(pixels).resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.float32) / 255.0


def background(name: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A place (a key of ``BACKGROUNDS``) as float RGB in [0, 1], under a per-scene light."""
    source = BACKGROUNDS[name]
    image = photo(source) if source == "hubble_deep_field" else _grey(source)
    source_height, source_width = image.shape[:2]
    side = int(min(source_height, source_width) * rng.uniform(0.3, 0.6))
    # a crop of the scene's proportions, as wide as the source allows
    side_w = min(source_width, max(1, round(side * width / height)))
    top = int(rng.integers(0, source_height - side + 1))
    left = int(rng.integers(0, source_width - side_w + 1))
    crop = _resize(image[top:top + side, left:left + side_w], height, width)
    if crop.ndim == 2:
        crop = crop[..., None] * np.asarray(BACKGROUND_TINTS[name], np.float32)
    # a per-scene light colour and level: warmth and brightness vary within every place
    gains = rng.uniform(0.8, 1.2, 3).astype(np.float32) * rng.uniform(0.75, 1.1)
    return np.clip(crop * gains, 0, 1)


def _object_patch(noun: str, colour: str | None, height: int, width: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(RGB patch, alpha mask) of one object at the given size."""
    if noun in SHAPES:
        rgb = np.broadcast_to(np.asarray(COLOURS[colour], np.float32) / 255.0, (height, width, 3)).copy()
        if noun == "ball":
            yy, xx = np.mgrid[:height, :width]
            mask = ((yy + 0.5 - height / 2) / (height / 2)) ** 2 + ((xx + 0.5 - width / 2) / (width / 2)) ** 2 <= 1
            shade = 1.0 - 0.35 * np.hypot(yy / height - 0.35, xx / width - 0.35)[..., None]  # a lit sphere
            rgb = rgb * shade
        else:
            mask = np.ones((height, width), bool)
        return np.clip(rgb, 0, 1), mask.astype(np.float32)
    if noun == "face":
        face = _resize(_lfw()[int(rng.integers(LFW_FACES))], height, width)
        rgb = face[..., None] * np.asarray((1.0, 0.84, 0.72), np.float32)
        yy, xx = np.mgrid[:height, :width]
        mask = ((yy + 0.5 - height / 2) / (height / 2)) ** 2 + ((xx + 0.5 - width / 2) / (width / 2)) ** 2 <= 1.1
        return rgb, mask.astype(np.float32)
    if noun == "text":
        page = _grey("text" if rng.random() < 0.5 else "page")
        side_h, side_w = int(page.shape[0] * 0.35), int(page.shape[1] * 0.25)
        top, left = int(rng.integers(0, page.shape[0] - side_h)), int(rng.integers(0, page.shape[1] - side_w))
        crop = page[top:top + side_h, left:left + side_w]
        crop = (crop - crop.min()) / max(float(np.ptp(crop)), 1e-6)  # dark strokes on white paper
        return np.repeat(_resize(crop, height, width)[..., None], 3, axis=2), np.ones((height, width), np.float32)
    if noun == "horse":
        silhouette = 1.0 - _resize(_horse(), height, width)
        rgb = np.broadcast_to(np.asarray((0.45, 0.27, 0.12), np.float32), (height, width, 3)).copy()
        return rgb, (silhouette > 0.5).astype(np.float32)
    source, (top, bottom, left, right) = PHOTO_CROPS[noun]
    crop = photo(source)[top:bottom, left:right]
    return _resize(crop, height, width), np.ones((height, width), np.float32)


def box_shape(noun: str, side: int) -> tuple[int, int]:
    """(height, width) of an object whose longer side is ``side``, in its natural proportions."""
    aspect = {"rocket": 2.2, "motorcycle": 0.6, "horse": 0.8, "text": 0.8}.get(noun, 1.0)
    return (side, max(4, round(side / aspect))) if aspect >= 1 else (max(4, round(side * aspect)), side)


# --- scenes and captions ------------------------------------------------------------------------


def _sample_objects(rng: np.random.Generator, config: WorldConfig) -> list[dict]:
    count = 2 if rng.random() < config.two_object_fraction else 1
    nouns = rng.choice(list(OBJECTS), size=count, replace=False)
    positions = ["left", "right"] if count == 2 else [str(rng.choice(["left", "right"]))]
    objects = []
    for noun, position in zip(nouns, positions):
        noun = str(noun)
        colour = str(rng.choice(list(COLOURS))) if noun in SHAPES else None
        size = str(rng.choice(list(SIZES)))
        objects.append({"noun": noun, "category": OBJECTS[noun][0], "colour": colour, "size": size,
                        "position": position})
    return objects


def _place(objects: list[dict], scene_width: int, scene_height: int, rng: np.random.Generator) -> None:
    """Give each object a box: left objects in the left half, right ones in the right half; sizes
    are fractions of the scene's shorter side."""
    for obj in objects:
        height, width = box_shape(obj["noun"], int(round(SIZES[obj["size"]] * min(scene_width, scene_height))))
        half = scene_width // 2
        low, high = (0, half - width) if obj["position"] == "left" else (half, scene_width - width)
        x = int(rng.integers(max(low, 0), max(high, low + 1) + 1))
        y = int(rng.integers(0, scene_height - height + 1))
        obj["bbox"] = [x, y, width, height]


def paint_objects(image: np.ndarray, objects: list[dict], rng: np.random.Generator) -> np.ndarray:
    """``image`` (float RGB in [0, 1]) with each object (noun, colour, bbox) painted into its box,
    as uint8."""
    image = image.copy()
    for obj in objects:
        x, y, width, height = obj["bbox"]
        rgb, alpha = _object_patch(obj["noun"], obj.get("colour"), height, width, rng)
        region = image[y:y + height, x:x + width]
        image[y:y + height, x:x + width] = region * (1 - alpha[..., None]) + rgb * alpha[..., None]
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)



PHRASES = {"coffee": "cup of coffee", "text": "page of text"}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def noun_phrase(obj: dict) -> str:
    """'a red ball', 'a large face', 'a small cup of coffee' ..."""
    noun = PHRASES.get(obj["noun"], obj["noun"])
    adjective = obj["colour"] or obj["size"]
    return f"{_article(adjective)} {adjective} {noun}"


def captions(objects: list[dict], background: str, rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct captions of a scene from the grammar (each ends in '.')."""
    place = BACKGROUND_PHRASES[background]
    if len(objects) == 1:
        (obj,) = objects
        options = [f"{noun_phrase(obj)} on {place}.", f"{place} with {noun_phrase(obj)} on the {obj['position']}.",
                   f"{noun_phrase(obj)} on the {obj['position']}.",
                   f"{_article(obj['category'])} {obj['category']} on {place}."]
    else:
        left, right = sorted(objects, key=lambda o: o["bbox"][0])
        options = [f"{noun_phrase(left)} left of {noun_phrase(right)} on {place}.",
                   f"{noun_phrase(right)} right of {noun_phrase(left)}.",
                   f"{place} with {noun_phrase(left)} and {noun_phrase(right)}.",
                   f"{noun_phrase(right)} and {noun_phrase(left)} on {place}."]
    chosen = rng.choice(len(options), size=min(n, len(options)), replace=False)
    return [options[int(index)] for index in sorted(chosen)]


def scene(rng: np.random.Generator, config: WorldConfig, width: int | None = None,
          height: int | None = None, light: float = 0.0) -> tuple[np.ndarray, dict]:
    """One scene: the image and what it holds (background, objects with boxes, captions). The
    scene is ``config.image_size`` square unless ``width`` and ``height`` are given (the eye-tracking
    sets show the world's scenes at their own sizes). ``light`` casts the place warm (> 0) or cool
    (< 0): red gain 1 + light, blue gain 1 - light on the background, the objects keep their colours."""
    width, height = width or config.image_size, height or config.image_size
    place = str(rng.choice(list(BACKGROUNDS)))
    objects = _sample_objects(rng, config)
    _place(objects, width, height, rng)
    cast = np.asarray([1 + light, 1.0, 1 - light], np.float32)
    image = paint_objects(np.clip(background(place, width, height, rng) * cast, 0, 1), objects, rng)
    return image, {"background": place, "objects": objects,
                   "captions": captions(objects, place, rng, config.captions_per_image)}


# --- the COCO layout ----------------------------------------------------------------------------


def categories() -> list[dict]:
    return [{"id": number, "name": noun, "supercategory": OBJECTS[noun][1]}
            for number, noun in enumerate(OBJECTS, start=1)]


def _jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def generate_world(out_dir: str | os.PathLike, config: WorldConfig = WorldConfig()) -> dict:
    """Write the world in the COCO captions layout under ``out_dir``; return the ground truth."""
    rng = np.random.default_rng(config.seed)
    category_id = {item["name"]: item["id"] for item in categories()}
    truth = {"config": asdict(config), "vocabulary": vocabulary(), "images": []}
    with atomic_directory(out_dir) as temp:
        next_image, next_annotation = 1, 1
        for split, count in (("train", config.n_train), ("test", config.n_test)):
            folder = SPLITS[split]
            (temp / folder).mkdir(parents=True)
            images, caption_rows, instance_rows = [], [], []
            for _ in range(count):
                image, content = scene(rng, config)
                file_name = f"{next_image:012d}.jpg"
                (temp / folder / file_name).write_bytes(_jpeg(image))
                images.append({"id": next_image, "file_name": file_name, "width": config.image_size,
                               "height": config.image_size})
                for text in content["captions"]:
                    caption_rows.append({"id": next_annotation, "image_id": next_image, "caption": text})
                    next_annotation += 1
                for obj in content["objects"]:
                    x, y, width, height = obj["bbox"]
                    instance_rows.append({"id": next_annotation, "image_id": next_image,
                                          "category_id": category_id[obj["noun"]], "bbox": [x, y, width, height],
                                          "area": width * height, "iscrowd": 0})
                    next_annotation += 1
                truth["images"].append({"id": next_image, "file_name": file_name, "split": split, **content})
                next_image += 1
            _write_json(temp / "annotations" / f"captions_{folder}.json",
                        {"info": {"description": "neurogaze demo world"}, "images": images,
                         "annotations": caption_rows})
            _write_json(temp / "annotations" / f"instances_{folder}.json",
                        {"info": {"description": "neurogaze demo world"}, "images": images,
                         "annotations": instance_rows, "categories": categories()})
        _write_json(temp / "ground_truth.json", truth)
    return truth


def vocabulary() -> dict[str, list[str]]:
    """The world's words by kind: what captions can say and zero-shot probes can ask."""
    return {"nouns": list(OBJECTS), "categories": sorted({category for category, _ in OBJECTS.values()}),
            "colours": list(COLOURS), "sizes": list(SIZES), "positions": ["left", "right"],
            "backgrounds": list(BACKGROUNDS)}


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
