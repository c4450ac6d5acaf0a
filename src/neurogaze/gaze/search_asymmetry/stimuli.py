"""Procedural displays for the six search-asymmetry experiments of Gupta et al. (NeurIPS 2021).

Every display follows the authors' stimulus generators (kreimanlab/VisualSearchAsymmetry,
``extras/experiment_stimuli_generators/gen_{curvature,lighting_dir,intersection,categorization}
.ipynb``): at 30 px/deg, a square view area, an n x n grid of cells of ``int(view_px / n)`` px,
one item patch per occupied cell with its top-left corner at a random offset
``rng.integers(jitter)`` inside the cell, and the cell (not the item's pixels) as the item's
region for inhibition of return and for the "target fixated" check. Every display is a pure
function of (experiment, condition, set size, rng).

| experiment | view (px) | grid, cell | item | jitter | bg / ink | set sizes |
|---|---|---|---|---|---|---|
| Exp1 curvature | 11.3 deg (339) | 6x6, 56 px | 48 px | 0-7 | 0 / 255 | 8 16 32 |
| Exp2 lighting | 6.6 deg (198) | 4x4, 49 px | 31 px | 0-17 | 27 / shading | 1 6 12 |
| Exp3 intersection | 20.5 deg (615) | 3x3, 205 px | 177 px | 0-26 | 255 / 0 | 3 6 9 |
| Exp4 T vs L | 20.5 deg (615) | 3x3, 205 px | 177 px | 0-26 | 255 / 0 | 3 6 9 |
| Exp5 orientation, homogeneous | 11.3 deg (339) | 4x4, 84 px | 69 px | 0-14 | 255 / 0 | 1 4 8 12 |
| Exp6 orientation, heterogeneous | 11.3 deg (339) | 4x4, 84 px | 69 px | 0-14 | 255 / 0 | 1 4 8 12 |

Conditions (target among distractors): Exp1 a curve among lines / a line among curves, four
orientations cycled by item order; Exp2 a top-lit disc among bottom-lit ones / left-lit among
right-lit; Exp3 a non-cross among crosses / a cross among non-crosses and Exp4 a T among Ls / an
L among Ts, every item one of four flip/transpose variants at random; Exp5 a -20 deg bar among
vertical ones / vertical among -20 deg; Exp6 a vertical / -20 deg bar among bars drawn without
replacement from -80, -60, -40, 20, 40, 60, 80 deg and the other target's orientation.

Angles follow OpenCV's ``getRotationMatrix2D`` as the authors used it: positive is
counter-clockwise on screen, so a -20 deg bar has its top tilted 20 deg to the RIGHT (clockwise).
Rotated items are drawn analytically: each patch pixel is mapped back through the rotation about
the authors' centre (``size / 2`` in pixel-index coordinates) and tested against the unrotated
shape (no anti-aliasing, where the authors' ``warpAffine`` interpolates bilinearly).

Condition keys and experiment names are those of the human RT file (``search_asymmetry.human_rt``)
so that model and human rows join.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from neurogaze.errors import DataValidationError

DEG2PX = 30.0  # every generator notebook: deg2px = 30


@dataclass(frozen=True)
class SearchDisplay:
    """One search trial: the display, the target cue and the item regions (grid cells)."""

    image: np.ndarray  # (H, W, 3) uint8
    target: np.ndarray  # (h, w, 3) uint8: the cue the model searches for (the very patch placed)
    item_boxes: np.ndarray  # (set_size, 4) int: row0, col0, row1, col1 of each item's cell
    target_index: int
    experiment: str
    condition: str
    set_size: int
    background: int
    cell_boxes: np.ndarray  # (grid * grid, 4) int: every cell's box, row-major, occupied or not
    item_cells: np.ndarray  # (set_size,) int: index into cell_boxes of each item's cell
    target_cell: int  # index into cell_boxes of the target's cell (item_cells[target_index])

    def item_at(self, row: float, col: float) -> int | None:
        """Index of the item whose cell contains (row, col), or None."""
        boxes = self.item_boxes
        inside = (boxes[:, 0] <= row) & (row < boxes[:, 2]) & (boxes[:, 1] <= col) & (col < boxes[:, 3])
        hits = np.flatnonzero(inside)
        return int(hits[0]) if len(hits) else None


# A condition's items: (rng, set_size, target_index, deg2px) -> the set_size uint8 patches in
# placement order, patches[target_index] being the target (and so the cue).
ItemMaker = Callable[[np.random.Generator, int, int, float], list[np.ndarray]]


@dataclass(frozen=True)
class Condition:
    key: str
    items: ItemMaker


@dataclass(frozen=True)
class Experiment:
    key: str  # the human JSON's "experiment" name
    view_deg: float  # side of the square display
    grid: int  # grid x grid cells
    item_deg: float  # side of an item patch
    background: int
    set_sizes: tuple[int, ...]
    n_per_set_size: int
    conditions: tuple[Condition, ...] = field(default_factory=tuple)

    def condition(self, key: str) -> Condition:
        for condition in self.conditions:
            if condition.key == key:
                return condition
        raise KeyError(f"{self.key}: no condition {key!r} (have {[c.key for c in self.conditions]})")

    # sizes in pixels, truncated with int() as in the notebooks
    def view_px(self, deg2px: float = DEG2PX) -> int:
        return int(self.view_deg * deg2px)

    def cell_px(self, deg2px: float = DEG2PX) -> int:
        return int(self.view_deg / self.grid * deg2px)

    def item_px(self, deg2px: float = DEG2PX) -> int:
        return int(self.item_deg * deg2px)

    def jitter_px(self, deg2px: float = DEG2PX) -> int:
        """Offsets inside a cell are drawn from 0 .. jitter - 1 (the notebooks' ``pos_err``)."""
        return int((self.view_deg / self.grid - self.item_deg) * deg2px)


# ---------------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------------


def _source_points(size: int, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """For every pixel of a size x size patch rotated by ``angle_deg`` about (size / 2, size / 2)
    (OpenCV's convention: positive = counter-clockwise on screen), the point (x right, y down, in
    pixel-index coordinates) of the unrotated patch that it shows."""
    centre = size / 2
    y, x = np.mgrid[0:size, 0:size].astype(float)
    theta = np.deg2rad(angle_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    dx, dy = x - centre, y - centre
    return centre + cos * dx - sin * dy, centre + sin * dx + cos * dy


def _in_rect(x: np.ndarray, y: np.ndarray, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """Points inside the pixel rectangle rows[0]:rows[1], cols[0]:cols[1] (pixel areas, so that
    the unrotated shape is exactly that array slice)."""
    return (rows[0] - 0.5 <= y) & (y < rows[1] - 0.5) & (cols[0] - 0.5 <= x) & (x < cols[1] - 0.5)


def _readonly(patch: np.ndarray) -> np.ndarray:
    patch.setflags(write=False)  # cached patches are shared between displays
    return patch


# ---------------------------------------------------------------------------------------------
# Exp1 curvature (gen_curvature.ipynb)
# ---------------------------------------------------------------------------------------------

CURVATURE_PATCH_DEG = 1.6  # obj_size
CURVE_RADIUS_DEG, CURVE_SEGMENT_RAD, CURVE_WEIGHT_DEG = 1.0, 1.3, 1 / 6
LINE_THICKNESS_DEG, LINE_LENGTH_DEG = 1 / 6 + 1 / 30, 1.2
# the four orientations: the base shape rotated clockwise by 45, 90, 135 and 180 deg; item number
# i (in placement order, the target included) takes CURVATURE_ANGLES[i % 4]
CURVATURE_ANGLES = (-45.0, -90.0, -135.0, 180.0)


@cache
def curvature_item(shape: str, angle_deg: float, deg2px: float = DEG2PX) -> np.ndarray:
    """A curve or a line (ink 255 on 0) on a 1.6 deg patch, rotated by ``angle_deg``.

    Unrotated, the curve is the bottom arc (52..127 deg, measured from +x towards +y with y down)
    of a circle of radius 1 deg centred 24 px right of and 2 px above the patch's top-left corner:
    a U, concave up, in rows ~20-31, drawn with thickness 1/6 deg (5 px), so 7 px wide as
    OpenCV renders it. The line is horizontal, rows 21..26 by
    columns 6..41 (1.2 deg long, 0.2 deg thick)."""
    size = int(CURVATURE_PATCH_DEG * deg2px)
    x, y = _source_points(size, angle_deg)
    if shape == "curve":
        # the notebook's cv2.ellipse call: centre, radius, start/end angles and thickness truncated
        cx = int(CURVATURE_PATCH_DEG * deg2px / 2)
        sagitta = CURVE_RADIUS_DEG * np.cos(CURVE_SEGMENT_RAD / 2) + CURVE_RADIUS_DEG
        cy = int((CURVATURE_PATCH_DEG - sagitta) * deg2px / 2)  # int(-2.94) = -2
        radius = int(CURVE_RADIUS_DEG * deg2px)
        half_turn = CURVE_SEGMENT_RAD / (4 * np.pi)  # half the segment as a fraction of a turn
        start, end = int((1 / 4 - half_turn) * 360), int((1 / 4 + half_turn) * 360)  # 52, 127
        # OpenCV draws a line of thickness t (here int(30 / 6) = 5) t + 2 px wide: the authors'
        # arc is 7 px across (as rendered by cv2.ellipse, 18 of its 302 pixels differ from ours)
        half_width = (int(CURVE_WEIGHT_DEG * deg2px) + 2) / 2
        dx, dy = x - cx, y - cy
        phi = np.degrees(np.arctan2(dy, dx))
        to_circle = np.abs(np.hypot(dx, dy) - radius)
        ends = [(cx + radius * np.cos(np.deg2rad(a)), cy + radius * np.sin(np.deg2rad(a))) for a in (start, end)]
        to_ends = np.minimum(*(np.hypot(x - ex, y - ey) for ex, ey in ends))
        ink = np.where((start <= phi) & (phi <= end), to_circle, to_ends) <= half_width
    elif shape == "line":
        rows = (int((CURVATURE_PATCH_DEG - LINE_THICKNESS_DEG) * deg2px / 2),
                int((CURVATURE_PATCH_DEG + LINE_THICKNESS_DEG) * deg2px / 2))
        cols = (int((CURVATURE_PATCH_DEG - LINE_LENGTH_DEG) * deg2px / 2),
                int((CURVATURE_PATCH_DEG + LINE_LENGTH_DEG) * deg2px / 2))
        ink = _in_rect(x, y, rows, cols)
    else:
        raise KeyError(f"no curvature shape {shape!r} (have 'curve', 'line')")
    return _readonly(np.where(ink, 255, 0).astype(np.uint8))


def _cycled_orientations(target: str, distractor: str) -> ItemMaker:
    """Orientation by placement order, not at random (as the notebook): balanced over items."""

    def items(rng, set_size, target_index, deg2px):
        return [curvature_item(target if i == target_index else distractor, CURVATURE_ANGLES[i % 4], deg2px)
                for i in range(set_size)]

    return items


# ---------------------------------------------------------------------------------------------
# Exp2 lighting direction (gen_lighting_dir.ipynb)
# ---------------------------------------------------------------------------------------------

LIGHTING_PATCH_DEG = 1.04  # obj_size: 31 px
LIGHTING_BACKGROUND = 27  # back_int
LIGHTING_LEVELS = tuple(range(0, 256, 17))  # obj_int: 16 luminances 0, 17, ..., 255
LIGHTING_STEPS = 15  # int_lvl: rows per band = int(31 / 15) = 2


@cache
def lit_disc(lit_from: str, deg2px: float = DEG2PX) -> np.ndarray:
    """A shaded disc on the lighting background; ``lit_from`` is its bright side.

    The base ("bottom") is 16 luminance bands 0, 17, ..., 255 in 2-row stripes from the top of the
    31 px patch down, kept inside the disc of pixels strictly within radius 15 of (15, 15)
    (skimage.draw.circle), 29 px across; rows 0 and 30 lie outside it, so the disc shows bands
    0..238. "top" flips it vertically, "right" transposes it, "left" transposes then flips left-right."""
    size = int(LIGHTING_PATCH_DEG * deg2px)
    rows_per_band = max(int(size / LIGHTING_STEPS), 1)
    band = np.minimum(np.arange(size) // rows_per_band, len(LIGHTING_LEVELS) - 1)
    shading = np.repeat(np.asarray(LIGHTING_LEVELS)[band][:, None], size, axis=1)
    centre = radius = int(size / 2)
    rows, cols = np.mgrid[0:size, 0:size]
    disc = (rows - centre) ** 2 + (cols - centre) ** 2 < radius**2
    base = np.where(disc, shading, LIGHTING_BACKGROUND).astype(np.uint8)
    variants = {"bottom": base, "top": np.flipud(base), "right": base.T, "left": np.fliplr(base.T)}
    if lit_from not in variants:
        raise KeyError(f"no lighting direction {lit_from!r} (have {list(variants)})")
    return _readonly(np.ascontiguousarray(variants[lit_from]))


def _fixed_items(target: Callable[[float], np.ndarray], distractor: Callable[[float], np.ndarray]) -> ItemMaker:
    def items(rng, set_size, target_index, deg2px):
        return [target(deg2px) if i == target_index else distractor(deg2px) for i in range(set_size)]

    return items


# ---------------------------------------------------------------------------------------------
# Exp3 intersection, Exp4 T vs L (gen_intersection.ipynb)
# ---------------------------------------------------------------------------------------------

STROKE_AREA_DEG, STROKE_WEIGHT_DEG, STROKE_BORDER_DEG = 5.5, 0.55, 0.4  # line_height/width, weight, border
INTERSECTION_SHAPES = ("cross", "non_cross", "T", "L")


def _strokes(shape: str, deg2px: float) -> np.ndarray:
    """The ink (True) of a shape on its 5.5 deg (165 px) stroke area, strokes 0.55 deg (16 px)."""
    side, weight = int(STROKE_AREA_DEG * deg2px), STROKE_WEIGHT_DEG
    ink = np.zeros((side, side), dtype=bool)
    stem = slice(int((STROKE_AREA_DEG - weight) * deg2px / 2), int((STROKE_AREA_DEG + weight) * deg2px / 2))
    upper = slice(int(3 * weight * deg2px), int(4 * weight * deg2px))  # rows 49..65: 30-40 % down
    lower = slice(int(6 * weight * deg2px), int(7 * weight * deg2px))  # rows 99..114
    half = int(STROKE_AREA_DEG * deg2px / 2)  # 82
    if shape == "cross":  # a full stem and a full bar crossing it off-centre
        ink[:, stem] = True
        ink[upper, :] = True
    elif shape == "non_cross":  # the stem with a left half-bar above a right half-bar: two Ts
        ink[:, stem] = True
        ink[upper, :half] = True
        ink[lower, half:] = True
    elif shape == "T":  # a full-width top bar on the centred stem
        ink[:, stem] = True
        ink[: int(weight * deg2px), :] = True
    elif shape == "L":  # a left upright and a bottom bar
        ink[:, : int(weight * deg2px)] = True
        ink[int((STROKE_AREA_DEG - weight) * deg2px) : side, :] = True
    else:
        raise KeyError(f"no intersection shape {shape!r} (have {INTERSECTION_SHAPES})")
    return ink


@cache
def intersection_item(shape: str, variant: int, deg2px: float = DEG2PX) -> np.ndarray:
    """A cross, non-cross, T or L (ink 0 on 255): the 165 px stroke area 6 px (0.2 deg) inside a
    5.9 deg (177 px) patch, as one of the notebook's four variants: 0 the shape, 1 flipped
    vertically, 2 transposed, 3 transposed then flipped left-right. For the L these are L, Γ, ¬
    and Γ again (variants 1 and 3 differ only in which stroke is 16 px and which 17 px wide), so
    no ⅃ and two Γs: a quirk of the authors' set, kept."""
    side = int((STROKE_AREA_DEG + STROKE_BORDER_DEG) * deg2px)
    offset = int(STROKE_BORDER_DEG / 2 * deg2px)
    ink = np.zeros((side, side), dtype=bool)
    strokes = _strokes(shape, deg2px)
    ink[offset : offset + len(strokes), offset : offset + len(strokes)] = strokes
    variants = (ink, np.flipud(ink), ink.T, np.fliplr(ink.T))
    return _readonly(np.where(variants[variant], 0, 255).astype(np.uint8))


def _random_variants(target: str, distractor: str) -> ItemMaker:
    """Every item, the target included, is one of the four variants at random (with replacement)."""

    def items(rng, set_size, target_index, deg2px):
        return [intersection_item(target if i == target_index else distractor, int(rng.integers(4)), deg2px)
                for i in range(set_size)]

    return items


# ---------------------------------------------------------------------------------------------
# Exp5-6 orientation (gen_categorization.ipynb)
# ---------------------------------------------------------------------------------------------

BAR_LENGTH_DEG, BAR_WIDTH_DEG = 2.0, 0.3  # line_height, line_width; the patch is their sum, 2.3 deg
TARGET_ANGLES = (0.0, -20.0)  # vertical and 20 deg clockwise
HETERO_ANGLES = (-80.0, -60.0, -40.0, 20.0, 40.0, 60.0, 80.0)  # distractor_angles


@cache
def bar_item(angle_deg: float, deg2px: float = DEG2PX) -> np.ndarray:
    """A black bar on white on a 2.3 deg (69 px) patch: vertical at 0 deg (rows 4..63, columns
    30..38: 2 x 0.3 deg), rotated by ``angle_deg`` about (34.5, 34.5); negative = clockwise, so
    bar_item(-20) has its top tilted right."""
    size = int((BAR_LENGTH_DEG + BAR_WIDTH_DEG) * deg2px)
    rows = (int(BAR_WIDTH_DEG * deg2px / 2), int((2 * BAR_LENGTH_DEG + BAR_WIDTH_DEG) * deg2px / 2))
    cols = (int(BAR_LENGTH_DEG * deg2px / 2), int((BAR_LENGTH_DEG + 2 * BAR_WIDTH_DEG) * deg2px / 2))
    x, y = _source_points(size, angle_deg)
    return _readonly(np.where(_in_rect(x, y, rows, cols), 0, 255).astype(np.uint8))


def _draw_from_pool(rng: np.random.Generator, pool: tuple[float, ...], n: int) -> list[float]:
    """``n`` values from ``pool`` without replacement; past len(pool), the whole pool once and the
    rest again without replacement; then shuffled (the notebook's distractor draw)."""
    picks: list[int] = []
    while n - len(picks) >= len(pool):
        picks += [int(k) for k in rng.permutation(len(pool))]
    picks += [int(k) for k in rng.choice(len(pool), n - len(picks), replace=False)]
    return [pool[picks[k]] for k in rng.permutation(n)]


def _bars(target_angle: float, pool: tuple[float, ...]) -> ItemMaker:
    """A target bar among distractors drawn from ``pool`` (a single angle: homogeneous)."""

    def items(rng, set_size, target_index, deg2px):
        angles = iter(_draw_from_pool(rng, pool, set_size - 1))
        return [bar_item(target_angle if i == target_index else next(angles), deg2px) for i in range(set_size)]

    return items


# ---------------------------------------------------------------------------------------------
# The six experiments
# ---------------------------------------------------------------------------------------------

EXPERIMENTS: dict[str, Experiment] = {
    "curvature": Experiment(
        key="Exp1 Curvature", view_deg=11.3, grid=6, item_deg=CURVATURE_PATCH_DEG, background=0,
        set_sizes=(8, 16, 32), n_per_set_size=30,
        conditions=(
            Condition("curve_in_lines", _cycled_orientations("curve", "line")),
            Condition("line_in_curves", _cycled_orientations("line", "curve")),
        ),
    ),
    "lighting": Experiment(
        key="Exp2 Lighting direction", view_deg=6.6, grid=4, item_deg=LIGHTING_PATCH_DEG,
        background=LIGHTING_BACKGROUND, set_sizes=(1, 6, 12), n_per_set_size=30,
        conditions=(
            Condition("top_down", _fixed_items(lambda d: lit_disc("top", d), lambda d: lit_disc("bottom", d))),
            Condition("left_right", _fixed_items(lambda d: lit_disc("left", d), lambda d: lit_disc("right", d))),
        ),
    ),
    "intersection": Experiment(
        key="Exp3 Intersection cross vs non-cross", view_deg=20.5, grid=3,
        item_deg=STROKE_AREA_DEG + STROKE_BORDER_DEG, background=255, set_sizes=(3, 6, 9),
        n_per_set_size=36,
        conditions=(
            Condition("non_cross", _random_variants("non_cross", "cross")),
            Condition("cross", _random_variants("cross", "non_cross")),
        ),
    ),
    "t_vs_l": Experiment(
        key="Exp4 Intersection T vs L", view_deg=20.5, grid=3, item_deg=STROKE_AREA_DEG + STROKE_BORDER_DEG,
        background=255, set_sizes=(3, 6, 9), n_per_set_size=36,
        conditions=(Condition("Ts", _random_variants("T", "L")), Condition("Ls", _random_variants("L", "T"))),
    ),
    "orientation_homo": Experiment(
        key="Exp5 Orientation homogeneous", view_deg=11.3, grid=4, item_deg=BAR_LENGTH_DEG + BAR_WIDTH_DEG,
        background=255, set_sizes=(1, 4, 8, 12), n_per_set_size=30,
        conditions=(
            Condition("homo_t20", _bars(-20.0, (0.0,))),
            Condition("homo_t0", _bars(0.0, (-20.0,))),
        ),
    ),
    "orientation_hetero": Experiment(
        key="Exp6 Orientation heterogeneous", view_deg=11.3, grid=4, item_deg=BAR_LENGTH_DEG + BAR_WIDTH_DEG,
        background=255, set_sizes=(1, 4, 8, 12), n_per_set_size=30,
        conditions=(
            # the pool is the 7 distractor angles plus the other target's orientation
            Condition("hetero_t0", _bars(0.0, HETERO_ANGLES + (-20.0,))),
            Condition("hetero_t20", _bars(-20.0, HETERO_ANGLES + (0.0,))),
        ),
    ),
}


def cell_boxes(grid: int, cell: int) -> np.ndarray:
    """(grid * grid, 4) row0, col0, row1, col1 of every cell, row-major (the notebooks' gt_mask)."""
    index = np.arange(grid * grid)
    row0, col0 = (index // grid) * cell, (index % grid) * cell
    return np.stack([row0, col0, row0 + cell, col0 + cell], axis=1)


def make_display(
    experiment: str, condition: str, set_size: int, rng: np.random.Generator, deg2px: float = DEG2PX
) -> SearchDisplay:
    """One display: ``set_size`` items in random cells, exactly one of them the target."""
    if experiment not in EXPERIMENTS:
        raise KeyError(f"unknown experiment {experiment!r}; known: {sorted(EXPERIMENTS)}")
    spec = EXPERIMENTS[experiment]
    cond = spec.condition(condition)
    n_cells = spec.grid * spec.grid
    if not 1 <= set_size <= n_cells:
        raise DataValidationError(None, "set_size", f"1..{n_cells} items for a {spec.grid}x{spec.grid} grid", set_size)
    view, cell, jitter = spec.view_px(deg2px), spec.cell_px(deg2px), max(spec.jitter_px(deg2px), 1)
    boxes = cell_boxes(spec.grid, cell)
    cells = rng.choice(n_cells, size=set_size, replace=False)
    target_index = int(rng.integers(set_size))
    patches = cond.items(rng, set_size, target_index, deg2px)
    image = np.full((view, view), spec.background, dtype=np.uint8)
    for index, patch in zip(cells, patches):
        h, w = patch.shape
        row0 = boxes[index, 0] + int(rng.integers(jitter))
        col0 = boxes[index, 1] + int(rng.integers(jitter))
        image[row0 : row0 + h, col0 : col0 + w] = patch
    # the cue is the very patch placed in the display (same variant / orientation), as the notebooks
    target = patches[target_index]
    return SearchDisplay(
        image=np.repeat(image[..., None], 3, axis=2),
        target=np.repeat(target[..., None], 3, axis=2),
        item_boxes=boxes[cells].copy(),
        target_index=target_index,
        experiment=experiment,
        condition=condition,
        set_size=set_size,
        background=spec.background,
        cell_boxes=boxes,
        item_cells=np.asarray(cells, dtype=int),
        target_cell=int(cells[target_index]),
    )


def generate_condition(
    experiment: str, condition: str, rng: np.random.Generator, n_per_set_size: int | None = None,
    deg2px: float = DEG2PX,
) -> list[SearchDisplay]:
    """All displays of one condition, set size by set size (the paper's 30 or 36 each by default)."""
    spec = EXPERIMENTS[experiment]
    n = spec.n_per_set_size if n_per_set_size is None else n_per_set_size
    return [make_display(experiment, condition, s, rng, deg2px) for s in spec.set_sizes for _ in range(n)]
