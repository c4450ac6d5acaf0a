"""The SEEG world movie: frames are the world's held-out scenes, sentences their captions, and
frame-sentence agreement varies under both alignments."""

import json

import numpy as np
import pandas as pd
import pytest

from neurogaze.brain.seeg.events import pair_events
from neurogaze.data.ieeg import IeegOptions
from neurogaze.data.synthetic.ieeg import SyntheticIeegConfig, generate_ieeg
from neurogaze.data.synthetic.world import WorldConfig, generate_world


@pytest.fixture(scope="module")
def movie(tmp_path_factory):
    root = tmp_path_factory.mktemp("movie")
    generate_world(root / "world", WorldConfig(n_train=1, n_test=60, image_size=32))
    config = SyntheticIeegConfig(n_subjects=1, duration_s=200.0, contacts_per_shaft=3, mean_scene_s=3.0,
                                 world=str(root / "world"))
    truth = generate_ieeg(root / "bids", config)
    events = pd.read_csv(next((root / "bids").glob("sub-01/ieeg/*_events.tsv")), sep="\t")
    world = json.loads((root / "world" / "ground_truth.json").read_text())
    return root, truth, events.assign(subject="01", stim_id=[f"e{i}" for i in range(len(events))]), world


def test_frames_are_world_scenes_and_sentences_their_captions(movie):
    root, truth, events, world = movie
    captions = {c for image in world["images"] for c in image["captions"]}
    cuts, words = events[events["trial_type"] == "scene_cut"], events[events["trial_type"] == "word"]
    assert all((root / "bids" / "stimuli" / f).is_file() for f in cuts["stim_file"])
    assert set(words["sentence"]) <= captions
    assert all(word in sentence for word, sentence in zip(words["word"], words["sentence"]))
    assert truth["subjects"]["01"]["electrodes"]["A1"]["region"] == "occipital cortex"


def test_agreement_varies_under_both_alignments_and_disagreeing_pairs_share_no_object(movie):
    root, truth, events, world = movie
    by_file = {f"frames/{image['file_name']}": image for image in world["images"]}
    by_caption = {}  # a short grammar repeats captions across scenes
    for image in world["images"]:
        for caption in image["captions"]:
            by_caption.setdefault(caption, []).append(image)
    pairs = pair_events(events, root / "bids" / "stimuli")
    n_shots = int((pairs["alignment"] == "vision").sum())
    for alignment, group in pairs.groupby("alignment"):
        agree = np.array([s in by_file[f]["captions"] for f, s in zip(group["frame"], group["sentence"])])
        # half the shots agree by construction (a shot's words share its agreement): 4 binomial
        # SEs of the shots either side
        assert abs(agree.mean() - 0.5) < 4 * np.sqrt(0.25 / n_shots), (alignment, agree.mean())
        for frame, sentence in zip(group["frame"][~agree], group["sentence"][~agree]):
            shown = {o["noun"] for o in by_file[frame]["objects"]}
            assert all(not shown & {o["noun"] for o in image["objects"]} for image in by_caption[sentence])


def test_the_paper_s_sliding_windows_give_161_bins():
    options = IeegOptions(tmin=-2.0, tmax=4.5, window_length=0.2, window_step=6.3 / 160, window_start=-2.0)
    windows = options.windows()
    assert len(windows) == 161 and windows[0] == (-2.0, -1.8) and windows[-1] == pytest.approx((4.3, 4.5))
    assert IeegOptions().windows() == [(round(0.1 * k, 6), round(0.1 * (k + 1), 6)) for k in range(6)]
