"""Each default is written once, in the schema: the data layer's config dataclasses built from an
empty config (every default filled in by the schema) equal their own defaults."""

import pytest

from neurogaze.config import from_section, validate_config
from neurogaze.data.adhd200 import Adhd200Options
from neurogaze.data.gaze.detection import DetectorConfig
from neurogaze.data.ieeg import IeegOptions
from neurogaze.data.synthetic.adhd200 import SyntheticAdhd200Config
from neurogaze.data.synthetic.gaze import SyntheticCocoSearchConfig, SyntheticEyelinkConfig, SyntheticOsieConfig
from neurogaze.data.synthetic.ieeg import SyntheticIeegConfig
from neurogaze.data.synthetic.nsd import NSDSyntheticConfig
from neurogaze.data.synthetic.video import SyntheticVideoConfig
from neurogaze.data.video import VideoOptions

PIPELINE_KEYS = {"enabled", "root", "synthetic", "betas_root", "braintreebank", "subjects_per_job"}

SECTIONS = {
    "datasets.adhd200": Adhd200Options,
    "datasets.ieeg": IeegOptions,
    "datasets.video": VideoOptions,
    "datasets.mit1003.detector": DetectorConfig,
    "datasets.eyelink.detector": DetectorConfig,
    "datasets.andersson2017.detector": DetectorConfig,
    "datasets.nsd.synthetic": NSDSyntheticConfig,
    "datasets.adhd200.synthetic": SyntheticAdhd200Config,
    "datasets.ieeg.synthetic": SyntheticIeegConfig,
    "datasets.video.synthetic": SyntheticVideoConfig,
    "datasets.osie.synthetic": SyntheticOsieConfig,
    "datasets.cocosearch18.synthetic": SyntheticCocoSearchConfig,
    "datasets.eyelink.synthetic": SyntheticEyelinkConfig,
}


def _section(config: dict, dotted: str) -> dict:
    for part in dotted.split("."):
        config = config[part]
    return {key: value for key, value in config.items() if key not in PIPELINE_KEYS}


@pytest.fixture(scope="module")
def empty_config():
    return validate_config({})


@pytest.mark.parametrize("dotted", sorted(SECTIONS))
def test_schema_defaults_are_the_dataclass_defaults(dotted, empty_config):
    cls = SECTIONS[dotted]
    assert from_section(cls, _section(empty_config, dotted), dotted) == cls()
