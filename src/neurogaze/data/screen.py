"""Screen geometry: pixels <-> degrees of visual angle. Outside ``neurogaze.data.gaze`` so that the
stage registry can derive each dataset's pixels per degree without importing the loaders."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ScreenGeometry:
    """Physical screen set-up: resolution (px), size (m) and viewing distance (m)."""

    resolution_px: tuple[float, float]
    size_m: tuple[float, float]
    distance_m: float

    def degrees_per_pixel(self) -> float:
        """Visual angle of the screen's width over its horizontal resolution: REMoDNaV's
        convention (``remodnav.clf.deg_per_pixel`` given the horizontal dimension)."""
        return math.degrees(2 * math.atan(self.size_m[0] / 2 / self.distance_m)) / self.resolution_px[0]

    def pixels_per_degree(self) -> float:
        return 1.0 / self.degrees_per_pixel()

    @classmethod
    def from_config(cls, screen: dict) -> ScreenGeometry:
        """From a config ``screen`` entry: resolution_px, size_m, distance_m."""
        return cls(tuple(screen["resolution_px"]), tuple(screen["size_m"]), float(screen["distance_m"]))


def screen_pixels_per_degree(screen: dict | None) -> float | None:
    """Image pixels per degree of a config ``screen`` entry that gives resolution, size and
    distance (images shown at their native size); None when the entry is incomplete (e.g. an
    EyeLink screen whose resolution each recording states)."""
    keys = ("resolution_px", "size_m", "distance_m")
    if not screen or any(screen.get(key) is None for key in keys):
        return None
    return ScreenGeometry.from_config(screen).pixels_per_degree()
