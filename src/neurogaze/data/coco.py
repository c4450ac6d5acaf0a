"""COCO captions (and object boxes) in the released layout -> a stimulus set with captions.

COCO's captions release has ``annotations/captions_<folder>.json`` (``images``: id, file_name,
width, height; ``annotations``: id, image_id, caption) and, beside it,
``annotations/instances_<folder>.json`` (``annotations``: image_id, category_id, bbox [x, y, w, h];
``categories``: id, name, supercategory), with the images in ``<folder>/`` (``train2017``,
``val2017``). The demo world (``neurogaze.data.synthetic.world``) is written in the same layout,
so one loader reads both. A stimulus id is the image id written with 12 digits, as COCO names
its files.

The stage writes the stimulus set (``index.parquet`` with the image's first caption in
``caption``), ``captions.parquet`` (every caption) and ``objects.parquet`` (every box).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from neurogaze.data.gaze.base import image_size
from neurogaze.errors import DataValidationError
from neurogaze.io import atomic_directory, write_parquet

CAPTION_COLUMNS = ("stim_id", "caption_id", "caption", "split")
OBJECT_COLUMNS = ("stim_id", "object_id", "category", "supercategory", "bbox_x", "bbox_y", "bbox_w", "bbox_h", "split")


def stim_id_of(image_id: int) -> str:
    return f"{int(image_id):012d}"


def _read_json(path: Path, required: tuple[str, ...]) -> dict:
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise DataValidationError(path, "file", "a COCO annotation file", "no such file") from exc
    except json.JSONDecodeError as exc:
        raise DataValidationError(path, "file", "valid JSON", exc) from exc
    missing = [key for key in required if key not in payload]
    if missing:
        raise DataValidationError(path, missing[0], f"COCO's keys {list(required)}", "missing")
    return payload


def _images(payload: dict, path: Path, image_dir: Path) -> dict[int, dict]:
    images = {}
    for number, image in enumerate(payload["images"]):
        for key in ("id", "file_name"):
            if key not in image:
                raise DataValidationError(path, f"images[{number}].{key}", "an image id and file name", "missing")
        images[int(image["id"])] = {"path": image_dir / image["file_name"], "file_name": image["file_name"]}
    return images


def read_split(root: Path, folder: str, split: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(images, captions, objects) of one COCO folder, checked against each other."""
    captions_path = root / "annotations" / f"captions_{folder}.json"
    payload = _read_json(captions_path, ("images", "annotations"))
    images = _images(payload, captions_path, root / folder)
    caption_rows = []
    for number, annotation in enumerate(payload["annotations"]):
        image_id, text = annotation.get("image_id"), str(annotation.get("caption", "")).strip()
        if image_id is None or int(image_id) not in images:
            raise DataValidationError(captions_path, f"annotations[{number}].image_id",
                                      f"the id of an image listed in {captions_path.name}", image_id)
        if not text:
            raise DataValidationError(captions_path, f"annotations[{number}].caption", "a non-empty caption",
                                      repr(annotation.get("caption")))
        caption_rows.append({"stim_id": stim_id_of(image_id), "caption_id": int(annotation["id"]), "caption": text,
                             "split": split})
    uncaptioned = sorted(set(images) - {int(a["image_id"]) for a in payload["annotations"]})
    if uncaptioned:
        raise DataValidationError(captions_path, "annotations", "at least one caption per image",
                                  f"none for image {uncaptioned[0]}")
    index = pd.DataFrame([{"stim_id": stim_id_of(image_id), "path": str(info["path"]), "split": split}
                          for image_id, info in sorted(images.items())])
    return index, pd.DataFrame(caption_rows, columns=list(CAPTION_COLUMNS)), _objects(root, folder, split, images)


def _objects(root: Path, folder: str, split: str, images: dict[int, dict]) -> pd.DataFrame:
    path = root / "annotations" / f"instances_{folder}.json"
    if not path.is_file():  # boxes are optional: a captions-only release still loads
        return pd.DataFrame(columns=list(OBJECT_COLUMNS))
    payload = _read_json(path, ("annotations", "categories"))
    names = {int(item["id"]): (item["name"], item.get("supercategory", item["name"])) for item in payload["categories"]}
    rows = []
    for number, annotation in enumerate(payload["annotations"]):
        image_id, category = int(annotation.get("image_id", -1)), annotation.get("category_id")
        if image_id not in images:
            raise DataValidationError(path, f"annotations[{number}].image_id", "an image of the captions file",
                                      image_id)
        if category not in names:
            raise DataValidationError(path, f"annotations[{number}].category_id", "a listed category", category)
        x, y, width, height = (float(value) for value in annotation["bbox"])
        name, supercategory = names[category]
        rows.append({"stim_id": stim_id_of(image_id), "object_id": int(annotation["id"]), "category": name,
                     "supercategory": supercategory, "bbox_x": x, "bbox_y": y, "bbox_w": width, "bbox_h": height,
                     "split": split})
    return pd.DataFrame(rows, columns=list(OBJECT_COLUMNS))


def load_coco(*, root: str | os.PathLike, stimuli: str | os.PathLike, captions: str | os.PathLike,
              objects: str | os.PathLike, settings: dict, relative_images: bool = False) -> pd.DataFrame:
    """Rule ``load_coco``: the COCO folders of ``settings['splits']`` ({our split: COCO folder})
    -> the stimulus set ``stimuli``, ``captions`` and ``objects`` tables. With ``relative_images``
    (the demo world inside the results tree) images are indexed relative to the stimulus folder."""
    root = Path(root)
    parts = [read_split(root, folder, split) for split, folder in settings["splits"].items()]
    index = pd.concat([part[0] for part in parts], ignore_index=True)
    duplicated = index["stim_id"][index["stim_id"].duplicated()]
    if not duplicated.empty:
        raise DataValidationError(root / "annotations", "images.id", "each image id in one split only",
                                  duplicated.iloc[0])
    sizes = [image_size(Path(path)) for path in index["path"]]
    caption_table = pd.concat([part[1] for part in parts], ignore_index=True)
    first = caption_table.sort_values(["stim_id", "caption_id"]).drop_duplicates("stim_id").set_index("stim_id")
    index = index.assign(width=[s[0] for s in sizes], height=[s[1] for s in sizes],
                         caption=index["stim_id"].map(first["caption"]))
    _write_stimulus_index(index, Path(stimuli), relative_images)
    write_parquet(captions, caption_table)
    write_parquet(objects, pd.concat([part[2] for part in parts], ignore_index=True))
    return index


def _write_stimulus_index(index: pd.DataFrame, folder: Path, relative: bool) -> None:
    """The stimulus-set contract pointing at COCO's own image files (not copied)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(folder) as temp:
        paths = [os.path.relpath(Path(path).resolve(), folder.resolve()) if relative else str(Path(path).resolve())
                 for path in index["path"]]
        table = pd.DataFrame({
            "stim_id": index["stim_id"].astype("string"), "path": pd.Series(paths, dtype="string"),
            "h5_row": pd.Series([None] * len(index), dtype="Int64"),
            "width": index["width"].astype("int64"), "height": index["height"].astype("int64"),
            "split": index["split"], "caption": index["caption"].astype("string"),
        })
        table.sort_values("stim_id", kind="stable").to_parquet(temp / "index.parquet", index=False)
