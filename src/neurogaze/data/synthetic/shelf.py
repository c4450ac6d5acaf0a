"""Synthetic shelf search in the DFKI STI / Amazon book-cover layout (see
:mod:`neurogaze.data.gaze.sti`), for OAT's demo.

Each shelf image holds ``rows`` x ``cols`` covers (6 x 14 as in STI), each a design of the demo
world: an object (noun and, for shapes, a colour) on a coloured cover. One cover per shelf is the
target; its design appears nowhere else on that shelf. Simulated people search with a planted
policy: they start near the shelf's centre (``start_sd`` cover steps) and pick each next cover with
probability proportional to exp(``colour_guidance`` [same cover colour as the target] +
``noun_guidance`` [same noun] - ``proximity`` x distance in cover steps - ``revisit_penalty`` [seen
before]), with a
chance ``refixation`` to stay on the current cover; they stop on the target (they find it when
they land on it) or after ``max_fixations``. Fixations scatter around the chosen cover's centre
within its cell, so some land in the gap between covers (nearest cover: their own). PNG images
keep repeated covers byte-identical.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from neurogaze.data.gaze.sti import FOLDER, MASK_PREFIX
from neurogaze.data.synthetic.world import COLOURS, OBJECTS, SHAPES, _object_patch
from neurogaze.io import atomic_directory


@dataclass(frozen=True)
class SyntheticShelfConfig:
    n_shelves: int = 40
    n_subjects: int = 10
    rows: int = 6
    cols: int = 14
    cover_width: int = 20
    cover_height: int = 32
    gap: int = 4
    colour_guidance: float = 8.0
    noun_guidance: float = 3.0
    proximity: float = 4.0
    revisit_penalty: float = 4.0
    refixation: float = 0.05
    max_fixations: int = 20
    fixation_sd_frac: float = 0.3
    start_sd: float = 0.0
    seed: int = 0

    def __post_init__(self):
        for name in ("n_shelves", "n_subjects", "rows", "cols", "cover_width", "cover_height", "max_fixations"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")


def designs() -> list[tuple[str, str]]:
    """(noun, cover colour) of every cover design: each noun on each colour."""
    return [(noun, colour) for noun in OBJECTS for colour in COLOURS]


def render_cover(noun: str, colour: str, height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cover = np.broadcast_to(np.asarray(COLOURS[colour], np.float32) / 255.0 * 0.8 + 0.1, (height, width, 3)).copy()
    side_h, side_w = int(height * 0.6), int(width * 0.8)
    # a shape shows in a contrasting colour, so that shape covers differ within a cover colour
    shape_colour = list(COLOURS)[(list(COLOURS).index(colour) + 1) % len(COLOURS)] if noun in SHAPES else None
    rgb, alpha = _object_patch(noun, shape_colour, side_h, side_w, rng)
    top, left = (height - side_h) // 2, (width - side_w) // 2
    region = cover[top:top + side_h, left:left + side_w]
    cover[top:top + side_h, left:left + side_w] = region * (1 - alpha[..., None]) + rgb * alpha[..., None]
    return (np.clip(cover, 0, 1) * 255).round().astype(np.uint8)


def _cover_boxes(config: SyntheticShelfConfig) -> np.ndarray:
    rows, cols = np.divmod(np.arange(config.rows * config.cols), config.cols)
    x0 = config.gap + cols * (config.cover_width + config.gap)
    y0 = config.gap + rows * (config.cover_height + config.gap)
    return np.column_stack([x0, y0, x0 + config.cover_width, y0 + config.cover_height])


def search_scanpath(rng: np.random.Generator, config: SyntheticShelfConfig, shelf: list[int], target: int,
                    catalogue: list[tuple[str, str]]) -> list[int]:
    """The planted policy (see the module note): cover indices in fixation order."""
    steps = np.column_stack(np.divmod(np.arange(len(shelf)), config.cols)).astype(float)
    noun, colour = catalogue[shelf[target]]
    value = (config.colour_guidance * np.array([catalogue[d][1] == colour for d in shelf])
             + config.noun_guidance * np.array([catalogue[d][0] == noun for d in shelf]))
    centre = steps.mean(axis=0) + rng.normal(0, config.start_sd, 2)
    current = int(np.linalg.norm(steps - centre, axis=1).argmin())
    path, seen = [current], {current}
    while path[-1] != target and len(path) < config.max_fixations:
        if rng.random() < config.refixation:
            path.append(current)
            continue
        distance = np.linalg.norm(steps - steps[current], axis=1)
        logits = value - config.proximity * distance - config.revisit_penalty * np.isin(np.arange(len(shelf)),
                                                                                          list(seen))
        logits[current] = -np.inf
        weights = np.exp(logits - logits[np.isfinite(logits)].max())
        current = int(rng.choice(len(shelf), p=weights / weights.sum()))
        path.append(current)
        seen.add(current)
    return path


def generate_shelf(out_dir: str | os.PathLike, config: SyntheticShelfConfig = SyntheticShelfConfig()) -> dict:
    """Write the shelves in the STI layout under ``out_dir``; return the ground truth."""
    rng = np.random.default_rng(config.seed)
    catalogue = designs()
    covers = [render_cover(noun, colour, config.cover_height, config.cover_width, config.seed + k)
              for k, (noun, colour) in enumerate(catalogue)]
    boxes = _cover_boxes(config)
    width = int(boxes[:, 2].max() + config.gap)
    height = int(boxes[:, 3].max() + config.gap)
    truth = {"config": asdict(config), "designs": [list(d) for d in catalogue], "shelves": {}}
    gaze = {}
    with atomic_directory(out_dir) as temp:
        folder = temp / FOLDER
        for sub in ("images", "binarymask", "target"):
            (folder / sub).mkdir(parents=True)
        for k, cover in enumerate(covers):
            Image.fromarray(cover).save(folder / "target" / f"{k}.png")
        for s in range(config.n_shelves):
            target_design = int(rng.integers(len(catalogue)))
            others = [d for d in range(len(catalogue)) if d != target_design]
            shelf = [int(d) for d in rng.choice(others, size=len(boxes))]
            target = int(rng.integers(len(boxes)))
            shelf[target] = target_design
            image = np.full((height, width, 3), 245, np.uint8)
            mask = np.zeros((height, width), np.uint8)
            for (x0, y0, x1, y1), design in zip(boxes, shelf):
                image[y0:y1, x0:x1] = covers[design]
                mask[y0:y1, x0:x1] = 255
            name = f"shelf{s:03d}.png"
            Image.fromarray(image).save(folder / "images" / name)
            Image.fromarray(mask).save(folder / "binarymask" / f"{MASK_PREFIX}{name}")
            x0, y0, x1, y1 = (int(v) for v in boxes[target])
            fixations = {}
            for subject in range(config.n_subjects):
                path = search_scanpath(rng, config, shelf, target, catalogue)
                centres = (boxes[path, :2] + boxes[path, 2:]) / 2
                size = np.array([config.cover_width, config.cover_height])
                # kept inside the cover's cell (cover + half the gap), where the nearest cover is its own
                reach = size / 2 + config.gap / 2 - 0.5
                scatter = np.clip(rng.normal(0, config.fixation_sd_frac, (len(path), 2)) * size, -reach, reach)
                fixations[f"s{subject:02d}"] = np.round(centres + scatter, 1).tolist()
                truth["shelves"].setdefault(name, {"designs": shelf, "target": target, "scanpaths": {}})
                truth["shelves"][name]["scanpaths"][f"s{subject:02d}"] = path
            gaze[name] = {"ground_truth": [{"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1}],
                          "target": f"target/{target_design}.png", "fixations": fixations}
        (folder / "amazon_data.json").write_text(json.dumps(gaze, indent=1) + "\n")
        (temp / "ground_truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth
