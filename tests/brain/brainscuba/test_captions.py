"""Noun extraction (the lexicon fallback), noun frequencies, concept rates and person shares."""

import numpy as np
import pytest

from neurogaze.brain.brainscuba.captions import (
    LexiconNouns,
    NounConfig,
    concept_rates,
    noun_extractor,
    noun_frequencies,
    person_share,
    voxel_caption_table,
)
from neurogaze.errors import ConfigError

CAPTIONS = ["a red ball on grass.", "two faces left of a cup of coffee.", "a large face on the night sky.",
            "a small horse on gravel."]
ROIS = {"faces": np.array([False, True, True, False, False]), "animals": np.array([False, False, False, True, True])}


def table():
    nouns = LexiconNouns(["ball", "grass", "face", "cup", "coffee", "night", "sky", "horse", "gravel"])
    return voxel_caption_table(np.array([0, 1, 2, 3]), CAPTIONS, [nouns(text) for text in CAPTIONS], ROIS,
                               ["face", "person"])


def test_lexicon_fallback_finds_listed_nouns_and_folds_plurals():
    nouns = LexiconNouns(["face", "coffee", "cup", "box"])
    assert nouns("Two faces left of a cup of coffee.") == ["face", "cup", "coffee"]
    assert nouns("three boxes and a red ball.") == ["box"]


def test_noun_config_needs_a_tagger_or_a_lexicon():
    with pytest.raises(ValueError, match="lexicon"):
        NounConfig()
    with pytest.raises(ConfigError, match="spaCy"):  # no spaCy model is installed offline
        noun_extractor(NounConfig(tagger="spacy:no_such_model"))


def test_noun_frequencies_count_each_voxel_once():
    freq = noun_frequencies(table(), ["faces", "animals"])
    faces = freq[freq["roi"] == "faces"].set_index("noun")
    assert faces.loc["face", "count"] == 2 and faces.loc["face", "frequency"] == 1.0
    assert faces.loc["coffee", "frequency"] == 0.5
    animals = freq[freq["roi"] == "animals"].set_index("noun")
    assert list(animals.index) == ["gravel", "horse"] and (animals["n_voxels"] == 1).all()


def test_concept_rates_and_person_share():
    rates = concept_rates(table(), {"faces": ["face"], "animals": ["horse", "cat"]}).set_index("roi")
    assert rates.loc["faces", "rate_in"] == 1.0 and rates.loc["faces", "rate_out"] == 0.0
    assert rates.loc["animals", "rate_in"] == 1.0 and rates.loc["animals", "rate_out"] == 0.0
    shares = person_share(table(), ["faces", "animals"]).set_index("roi")["person_share"]
    assert shares["all"] == 0.5 and shares["faces"] == 1.0 and shares["animals"] == 0.0
