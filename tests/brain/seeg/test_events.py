"""Event pairing: words take the frame on screen, cuts the sentence heard before them."""

import pandas as pd
import pytest

from neurogaze.brain.seeg.events import pair_events
from neurogaze.errors import DataValidationError


def movie_events() -> pd.DataFrame:
    rows = [  # a word before the first cut has no frame; the first cut no sentence
        (0.5, "word", None, "a dog ran."), (1.0, "scene_cut", "frames/a.jpg", None),
        (1.3, "word", None, "a red ball."), (1.6, "word", None, "a red ball."),
        (2.0, "scene_cut", "frames/b.jpg", None), (2.4, "word", None, "the sky."),
    ]
    table = pd.DataFrame(rows, columns=["onset", "trial_type", "stim_file", "sentence"])
    return table.assign(subject="01", stim_id=[f"{t}-{i:04d}" for i, t in enumerate(table["trial_type"])])


@pytest.fixture
def stimuli(tmp_path):
    (tmp_path / "frames").mkdir()
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / "frames" / name).write_bytes(b"x")
    return tmp_path


def test_words_take_the_frame_on_screen_and_cuts_the_sentence_before(stimuli):
    pairs = pair_events(movie_events(), stimuli).set_index("stim_id")
    assert "word-0000" not in pairs.index  # before the first frame
    assert pairs.loc["scene_cut-0001", "sentence"] == "a dog ran."
    assert pairs.loc["word-0002", "frame"] == "frames/a.jpg"
    assert pairs.loc["scene_cut-0004", ["frame", "sentence"]].tolist() == ["frames/b.jpg", "a red ball."]
    assert pairs.loc["word-0005", ["frame", "sentence"]].tolist() == ["frames/b.jpg", "the sky."]
    assert pairs["alignment"].value_counts().to_dict() == {"language": 3, "vision": 2}


def test_runs_are_paired_separately(stimuli):
    first, second = movie_events(), movie_events()
    second["stim_id"] = "run2_" + second["stim_id"]
    first["stim_id"] = "run1_" + first["stim_id"]
    pairs = pair_events(pd.concat([first, second]), stimuli)
    # run 2's first cut does not take run 1's last sentence
    assert "run2_scene_cut-0001" in set(pairs["stim_id"])
    assert pairs.set_index("stim_id").loc["run2_scene_cut-0001", "sentence"] == "a dog ran."
    assert len(pairs) == 10


@pytest.mark.parametrize(("edit", "field", "detail"), [
    (lambda t: t.assign(stim_file=t["stim_file"].where(t.index != 4)), "stim_file", "scene_cut-0004"),
    (lambda t: t.assign(sentence=t["sentence"].where(t.index != 2, "n/a")), "sentence", "word-0002"),
    (lambda t: t.assign(stim_file=t["stim_file"].replace("frames/b.jpg", "frames/gone.jpg")), "stim_file", "no such"),
])
def test_an_event_without_its_frame_or_sentence_is_named(stimuli, edit, field, detail):
    with pytest.raises(DataValidationError) as error:
        pair_events(edit(movie_events()), stimuli, "events.parquet")
    assert error.value.field == field and detail in str(error.value)
