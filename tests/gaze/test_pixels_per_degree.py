"""One pixels-per-degree per gaze dataset: derived from the dataset's screen geometry where its
config gives one, the same number for the detector, the evaluation's blur and DiffEye."""

import pytest

from neurogaze.config import load_config, repository_root
from neurogaze.data.screen import ScreenGeometry
from neurogaze.errors import ConfigError
from neurogaze.gaze.diffeye.stages import pixels_per_degree
from neurogaze.stages import STAGES, gaze_pixels_per_degree

PAPER = repository_root() / "config" / "paper.yaml"


def test_mit1003_is_scored_at_its_detector_s_pixels_per_degree():
    config = load_config(PAPER)
    screen = config["datasets"]["mit1003"]["screen"]
    detector_scale = ScreenGeometry(tuple(screen["resolution_px"]), tuple(screen["size_m"]),
                                    screen["distance_m"]).pixels_per_degree()
    evaluation = STAGES["gaze_evaluate"].params(config)["settings"]
    assert evaluation["pixels_per_degree"]["mit1003"] == pytest.approx(detector_scale)
    assert detector_scale == pytest.approx(37.36, abs=0.01)  # was 35 in the evaluation
    diffeye = STAGES["diffeye_train"].params(config)["settings"]
    assert pixels_per_degree(diffeye, "mit1003") == pytest.approx(detector_scale)
    assert pixels_per_degree(diffeye, "osie") == evaluation["pixels_per_degree"]["osie"]


def test_a_dataset_with_a_screen_cannot_also_be_given_a_number():
    config = load_config(PAPER, overrides=["gaze_evaluation.pixels_per_degree={osie: 24.0, mit1003: 35.0}"])
    with pytest.raises(ConfigError, match=r"gaze_evaluation.pixels_per_degree.mit1003.*37.36"):
        gaze_pixels_per_degree(config)


def test_datasets_without_a_screen_use_the_listed_number_or_the_default():
    config = load_config(repository_root() / "config" / "config.yaml")
    settings = STAGES["gaze_evaluate"].params(config)["settings"]
    assert settings["pixels_per_degree"]["osie"] == 8.0  # the demo's 160 px span 20 degrees
    assert pixels_per_degree(settings, "cocosearch18") == settings["default_pixels_per_degree"]
    assert pixels_per_degree({"pixels_per_degree": 30.0}, "anything") == 30.0
