"""Procedural displays for the six search-asymmetry experiments of Gupta et al. (NeurIPS 2021).

Every display follows the layout of the authors' generators: a square view area of 11.3 deg at
30 px/deg (339 px), an n x n grid of cells, one item per occupied cell at a random offset inside
its cell, and the cell (not the item's pixels) as the item's region for inhibition of return and
for the "target fixated" check. Items are drawn analytically (rotated coordinates) so that every
display is a pure function of (experiment, condition, set size, rng).

| experiment | conditions (target among distractors) | grid | background | set sizes |
|---|---|---|---|---|
| Exp1 curvature | curve among lines / line among curves (4 orientations each) | 6x6 | black | 8 16 32 |
| Exp2 lighting | top-lit among bottom-lit discs / left-lit among right-lit | 4x4 | 27 | 1 6 12 |
| Exp3 intersection | cross among non-crosses / non-cross among crosses | 3x3 | white | 3 6 9 |
| Exp4 T vs L | T among Ls / L among Ts (rotated by 90 deg steps) | 3x3 | white | 3 6 9 |
| Exp5 orientation, homogeneous | -20 deg bar among vertical / vertical among -20 deg | 4x4 | white | 1 4 8 12 |
| Exp6 orientation, heterogeneous | vertical / -20 deg bar among bars at +-40..80 and 20 deg | 4x4 | white | 1 4 8 12 |

Condition keys and experiment names are those of the human RT file (``search_asymmetry.human_rt``)
so that model and human rows join.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from neurogaze.errors import DataValidationError

DEG2PX = 30.0
VIEW_DEG = 11.3

# An item is drawn from a generator: (rng, size_px, deg2px) -> float image in [0, 1] (1 = ink).
ItemDrawer = Callable[[np.random.Generator, int, float], np.ndarray]


@dataclass(frozen=True)
class SearchDisplay:
    """One search trial: the display, the target cue and the item regions (grid cells)."""

    image: np.ndarray  # (H, W, 3) uint8
    target: np.ndarray  # (h, w, 3) uint8: the cue the model searches for
    item_boxes: np.ndarray  # (set_size, 4) int: row0, col0, row1, col1 of each item's cell
    target_index: int
    experiment: str
    condition: str
    set_size: int
    background: int

    def item_at(self, row: float, col: float) -> int | None:
        """Index of the item whose cell contains (row, col), or None."""
        boxes = self.item_boxes
        inside = (boxes[:, 0] <= row) & (row < boxes[:, 2]) & (boxes[:, 1] <= col) & (col < boxes[:, 3])
        hits = np.flatnonzero(inside)
        return int(hits[0]) if len(hits) else None


@dataclass(frozen=True)
class Condition:
    key: str
    target: ItemDrawer
    distractor: ItemDrawer


@dataclass(frozen=True)
class Experiment:
    key: str  # the human JSON's "experiment" name
    grid: int
    background: int
    ink: int
    item_deg: float
    set_sizes: tuple[int, ...]
    n_per_set_size: int
    conditions: tuple[Condition, ...] = field(default_factory=tuple)

    def condition(self, key: str) -> Condition:
        for condition in self.conditions:
            if condition.key == key:
                return condition
        raise KeyError(f"{self.key}: no condition {key!r} (have {[c.key for c in self.conditions]})")


# ---------------------------------------------------------------------------------------------
# Analytic item shapes, drawn on a size x size canvas centred on the item
# ---------------------------------------------------------------------------------------------


def _coords(size: int, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates rotated by angle (counter-clockwise on screen): (u right, v up)."""
    centre = (size - 1) / 2
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    x, y = cols - centre, centre - rows
    theta = np.deg2rad(angle_deg)
    u = x * np.cos(theta) + y * np.sin(theta)
    v = -x * np.sin(theta) + y * np.cos(theta)
    return u, v


def _bar(u, v, cu, cv, half_u, half_v) -> np.ndarray:
    return (np.abs(u - cu) <= half_u) & (np.abs(v - cv) <= half_v)


def bar_item(angle_deg: float, length_deg: float = 2.0, width_deg: float = 0.3) -> ItemDrawer:
    """A bar, vertical at 0 deg, positive angles clockwise (as the authors' cv2 rotation)."""

    def draw(rng, size, deg2px):
        u, v = _coords(size, -angle_deg)
        return _bar(u, v, 0, 0, width_deg * deg2px / 2, length_deg * deg2px / 2).astype(float)

    return draw


def oriented_set(angles: tuple[float, ...], **bar) -> ItemDrawer:
    """A bar whose orientation is drawn from ``angles`` (heterogeneous distractors)."""
    drawers = [bar_item(a, **bar) for a in angles]

    def draw(rng, size, deg2px):
        return drawers[int(rng.integers(len(drawers)))](rng, size, deg2px)

    return draw


def _random_quarter(rng) -> float:
    return float(rng.choice([0.0, 90.0, 180.0, 270.0]))


def curve_item(rng, size, deg2px):
    """An arc of radius 1 deg spanning 1.3 rad, 1/6 deg thick, at one of four orientations."""
    angle = float(rng.choice([-45.0, -90.0, -135.0, 180.0]))
    u, v = _coords(size, angle)
    radius, half_span, half_width = deg2px, 1.3 / 2, deg2px / 12
    # the arc's chord is centred on the item; its centre of curvature lies below
    cv = -radius * (1 + np.cos(half_span)) / 2
    r = np.hypot(u, v - cv)
    phi = np.arctan2(u, v - cv)
    return ((np.abs(r - radius) <= half_width) & (np.abs(phi) <= half_span)).astype(float)


def line_item(rng, size, deg2px):
    """A straight 1.2 deg segment, (1/6 + 1/30) deg thick, at one of four orientations."""
    angle = float(rng.choice([-45.0, -90.0, -135.0, 180.0]))
    u, v = _coords(size, angle)
    return _bar(u, v, 0, 0, 0.6 * deg2px, (1 / 6 + 1 / 30) * deg2px / 2).astype(float)


def cross_item(rng, size, deg2px):
    """Two 1.6 deg strokes crossing at their middles (a plus), rotated by 0/90/180/270 deg."""
    u, v = _coords(size, _random_quarter(rng))
    half, w = 0.8 * deg2px, 0.1 * deg2px
    return (_bar(u, v, 0, 0, half, w) | _bar(u, v, 0, 0, w, half)).astype(float)


def non_cross_item(rng, size, deg2px):
    """The same two strokes, separated so that they do not touch (Wolfe & DiMase 2003)."""
    u, v = _coords(size, _random_quarter(rng))
    half, w, gap = 0.8 * deg2px, 0.1 * deg2px, 0.25 * deg2px
    horizontal = _bar(u, v, -gap, -half * 0.5, half * 0.75, w)
    vertical = _bar(u, v, half * 0.5, gap, w, half * 0.75)
    return (horizontal | vertical).astype(float)


def t_item(rng, size, deg2px):
    """A T: a 1.6 deg top bar and a stem from its middle, rotated by 90 deg steps."""
    u, v = _coords(size, _random_quarter(rng))
    half, w = 0.8 * deg2px, 0.1 * deg2px
    return (_bar(u, v, 0, half - w, half, w) | _bar(u, v, 0, 0, w, half)).astype(float)


def l_item(rng, size, deg2px):
    """An L: a 1.6 deg upright and a bottom bar from its end, rotated by 90 deg steps."""
    u, v = _coords(size, _random_quarter(rng))
    half, w = 0.8 * deg2px, 0.1 * deg2px
    return (_bar(u, v, -half + w, 0, w, half) | _bar(u, v, 0, -half + w, half, w)).astype(float)


def shaded_disc(direction: str) -> ItemDrawer:
    """A 1.6 deg disc lit from one side: luminance ramps from dark to bright along ``direction``."""
    axis = {"top": (0, 1), "bottom": (0, -1), "left": (-1, 0), "right": (1, 0)}[direction]

    def draw(rng, size, deg2px):
        u, v = _coords(size, 0.0)
        radius = 0.8 * deg2px
        inside = np.hypot(u, v) <= radius
        ramp = 0.5 + 0.5 * (axis[0] * u + axis[1] * v) / radius
        return np.where(inside, 0.1 + 0.9 * np.clip(ramp, 0, 1), 0.0)

    return draw


HETERO_ANGLES = (-80.0, -60.0, -40.0, 20.0, 40.0, 60.0, 80.0)

EXPERIMENTS: dict[str, Experiment] = {
    "curvature": Experiment(
        "Exp1 Curvature", 6, 0, 255, 1.6, (8, 16, 32), 30,
        (Condition("curve_in_lines", curve_item, line_item), Condition("line_in_curves", line_item, curve_item)),
    ),
    "lighting": Experiment(
        "Exp2 Lighting direction", 4, 27, 255, 1.6, (1, 6, 12), 30,
        (
            Condition("top_down", shaded_disc("top"), shaded_disc("bottom")),
            Condition("left_right", shaded_disc("left"), shaded_disc("right")),
        ),
    ),
    "intersection": Experiment(
        "Exp3 Intersection cross vs non-cross", 3, 255, 0, 1.8, (3, 6, 9), 36,
        (Condition("non_cross", non_cross_item, cross_item), Condition("cross", cross_item, non_cross_item)),
    ),
    "t_vs_l": Experiment(
        "Exp4 Intersection T vs L", 3, 255, 0, 1.8, (3, 6, 9), 36,
        (Condition("Ts", t_item, l_item), Condition("Ls", l_item, t_item)),
    ),
    "orientation_homo": Experiment(
        "Exp5 Orientation homogeneous", 4, 255, 0, 2.3, (1, 4, 8, 12), 30,
        (
            Condition("homo_t20", bar_item(-20.0), bar_item(0.0)),
            Condition("homo_t0", bar_item(0.0), bar_item(-20.0)),
        ),
    ),
    "orientation_hetero": Experiment(
        "Exp6 Orientation heterogeneous", 4, 255, 0, 2.3, (1, 4, 8, 12), 30,
        (
            Condition("hetero_t0", bar_item(0.0), oriented_set(HETERO_ANGLES)),
            Condition("hetero_t20", bar_item(-20.0), oriented_set(HETERO_ANGLES)),
        ),
    ),
}


def _render(drawer: ItemDrawer, rng, size: int, deg2px: float, background: int, ink: int) -> np.ndarray:
    alpha = np.clip(drawer(rng, size, deg2px), 0, 1)
    return np.round(background + alpha * (ink - background)).astype(np.uint8)


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
    view = int(VIEW_DEG * deg2px)
    cell = int(VIEW_DEG / spec.grid * deg2px)
    item = int(spec.item_deg * deg2px)
    jitter = max(cell - item, 1)
    image = np.full((view, view), spec.background, dtype=np.uint8)
    cells = rng.choice(n_cells, size=set_size, replace=False)
    target_index = int(rng.integers(set_size))
    boxes = np.zeros((set_size, 4), dtype=int)
    # the cue is the very patch placed in the display (same orientation), as in the authors' sets
    target = _render(cond.target, rng, item, deg2px, spec.background, spec.ink)
    for i, index in enumerate(cells):
        row0, col0 = (index // spec.grid) * cell, (index % spec.grid) * cell
        if i == target_index:
            patch = target
        else:
            patch = _render(cond.distractor, rng, item, deg2px, spec.background, spec.ink)
        dr, dc = int(rng.integers(jitter)), int(rng.integers(jitter))
        image[row0 + dr : row0 + dr + item, col0 + dc : col0 + dc + item] = patch
        boxes[i] = (row0, col0, row0 + cell, col0 + cell)
    return SearchDisplay(
        image=np.repeat(image[..., None], 3, axis=2),
        target=np.repeat(target[..., None], 3, axis=2),
        item_boxes=boxes,
        target_index=target_index,
        experiment=experiment,
        condition=condition,
        set_size=set_size,
        background=spec.background,
    )


def generate_condition(
    experiment: str, condition: str, rng: np.random.Generator, n_per_set_size: int | None = None,
    deg2px: float = DEG2PX,
) -> list[SearchDisplay]:
    """All displays of one condition, set size by set size (the paper's 30 or 36 each by default)."""
    spec = EXPERIMENTS[experiment]
    n = spec.n_per_set_size if n_per_set_size is None else n_per_set_size
    return [make_display(experiment, condition, s, rng, deg2px) for s in spec.set_sizes for _ in range(n)]
