"""A BIDS-iEEG movie-watching SEEG dataset with vision, language and multimodal electrodes.

Each subject "watches a movie" with scene cuts (every few seconds) and spoken words (every ~0.8 s,
with pauses). Electrodes sit on shafts in MNI space; each shaft has a kind:

* ``vision``: a high-gamma burst after every scene cut, scaled by ``1 + 0.5 * scene feature``;
* ``language``: a burst after every word, scaled by ``1 + 0.5 * word feature``;
* ``multimodal``: a burst after a word only when a scene cut came less than
  ``interaction_window`` s before it (an interaction: words alone or cuts alone give 10 %);
* ``silent``: no response.

The two deepest contacts of a shaft are silent (white matter); gains fall along each shaft. One
contact per subject is noisy and marked ``bad`` in channels.tsv. The voltage is 1/f background
plus a 70-150 Hz carrier whose amplitude follows the planted response envelope, written with
mne-bids (BrainVision by default). events.tsv gets extra columns ``word`` and ``scene``.
``ground_truth.json`` lists each electrode's kind, gain and position, the scene and word features
and the generator parameters.

**World movie** (``world`` set to the demo world's folder, results/synthetic/coco): the movie is a
sequence of shots of the world's held-out scenes, and during each shot one of the world's
captions is spoken word by word, so that a frame and a sentence can agree (the sentence is a
caption of the scene on screen) or not. Each shot's frame is written to ``stimuli/frames/`` and
named in the scene cut's ``stim_file``; each word row carries its ``sentence``. A sentence agrees
with its shot's frame half of the time, and the frame after a cut shows the scene the previous
sentence described half of the time (a cut back to it), so agreement varies under both
alignments (word -> frame on screen, cut -> preceding sentence); a disagreeing pair shares no
object and no background. The electrodes then respond to the pair of their event:

* ``vision``: after scene cuts, ``1 + m v(frame)`` (m: ``modulation``; v: a fixed random value per
  object noun, averaged over the frame's objects, standardised);
* ``language``: after words, ``1 + m l(sentence)`` (l: another value per noun the sentence names);
* ``multimodal``: after words and cuts, ``0.1 + agreement`` (1 or 0): the product of what the
  frame and the sentence show, which no linear function of image features plus text features can
  express, while the per-dimension terms of an image-text model's similarity can.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import signal

from neurogaze.io import atomic_directory, write_json

GROUND_TRUTH = "ground_truth.json"
KINDS = ("vision", "language", "multimodal", "silent")
# Shaft entry regions (MNI mm): occipital for vision, superior temporal for language,
# temporo-parietal junction for the interaction, frontal white matter for silent.
SHAFT_CENTRES = {
    "vision": (-28.0, -88.0, 2.0),
    "language": (-56.0, -18.0, 4.0),
    "multimodal": (-50.0, -52.0, 20.0),
    "silent": (30.0, 30.0, 30.0),
}
# the region each shaft kind's contacts sit in; the two deepest contacts of every shaft sit in
# white matter
REGIONS = {"vision": "occipital cortex", "language": "superior temporal gyrus",
           "multimodal": "temporo-parietal junction", "silent": "frontal cortex"}
SCENE_FOLDER = "val2017"  # the world's held-out scenes, in COCO's folder name
VOCABULARY = (
    "the",
    "dog",
    "ran",
    "into",
    "a",
    "dark",
    "house",
    "she",
    "said",
    "nothing",
    "light",
    "window",
    "car",
    "stopped",
    "here",
    "now",
)


@dataclass
class SyntheticIeegConfig:
    n_subjects: int = 2
    shafts: tuple[str, ...] = ("vision", "language", "multimodal", "silent")
    contacts_per_shaft: int = 6
    duration_s: float = 240.0
    sfreq: float = 512.0
    mean_scene_s: float = 4.0
    mean_word_s: float = 0.8
    interaction_window: float = 1.0
    burst_gain: float = 2.0  # peak relative increase of the high-gamma amplitude
    format: str = "BrainVision"
    task: str = "movie"
    seed: int = 0
    world: str | None = None  # the demo world's folder: its scenes and captions make the movie
    mean_word_gap_s: float = 0.35  # world movie: seconds between a sentence's words
    modulation: float = 0.5  # world movie: vision and language bursts are 1 + modulation x value


def _event_times(rng, duration: float, mean_gap: float, min_gap: float) -> np.ndarray:
    gaps = min_gap + rng.exponential(mean_gap - min_gap, size=int(3 * duration / mean_gap) + 10)
    times = np.cumsum(gaps)
    return times[(times > 1.5) & (times < duration - 1.5)]


def _events(rng, config: SyntheticIeegConfig, scene_features: np.ndarray, word_features: dict) -> pd.DataFrame:
    cuts = _event_times(rng, config.duration_s, config.mean_scene_s, 1.5)
    words = _event_times(rng, config.duration_s, config.mean_word_s, 0.35)
    words = words[np.min(np.abs(words[:, None] - cuts[None]), axis=1) > 0.02]  # distinct samples
    rows = [
        {"onset": t, "trial_type": "scene_cut", "scene": k % len(scene_features), "word": None}
        for k, t in enumerate(cuts)
    ]
    for t in words:
        scene = int(np.searchsorted(cuts, t) - 1)
        rows.append(
            {
                "onset": t,
                "trial_type": "word",
                "scene": scene % len(scene_features) if scene >= 0 else None,
                "word": str(rng.choice(list(word_features))),
            }
        )
    events = pd.DataFrame(rows).sort_values("onset", kind="stable").reset_index(drop=True)
    events["onset"] = np.round(events["onset"] * config.sfreq) / config.sfreq
    last_cut = np.array([cuts[cuts <= t].max() if (cuts <= t).any() else -np.inf for t in events["onset"]])
    events["after_cut"] = (events["trial_type"] == "word") & (events["onset"] - last_cut < config.interaction_window)
    return events


def _amplitudes(events: pd.DataFrame, kind: str, scene_features, word_features) -> np.ndarray:
    is_cut = (events["trial_type"] == "scene_cut").to_numpy()
    is_word = ~is_cut
    scene = np.array([scene_features[int(s)] if pd.notna(s) else 0.0 for s in events["scene"]])
    word = np.array([word_features[w] if isinstance(w, str) else 0.0 for w in events["word"]])
    if kind == "vision":
        return is_cut * np.clip(1 + 0.5 * scene, 0.1, None)
    if kind == "language":
        return is_word * np.clip(1 + 0.5 * word, 0.1, None)
    if kind == "multimodal":
        return np.where(events["after_cut"], 1.0, 0.1) * (is_word | is_cut)
    return np.zeros(len(events))


# --- the world movie ----------------------------------------------------------------------------


@dataclass
class WorldMovie:
    """The world's held-out scenes, their captions and the planted per-noun values."""

    scenes: list[dict]
    folder: Path
    vision_value: dict[str, float]
    language_value: dict[str, float]


def read_world_movie(world: str | os.PathLike, rng) -> WorldMovie:
    folder = Path(world)
    truth = json.loads((folder / GROUND_TRUTH).read_text())
    scenes = [image for image in truth["images"] if image["split"] == "test"]
    nouns = truth["vocabulary"]["nouns"]
    return WorldMovie(scenes, folder, dict(zip(nouns, rng.standard_normal(len(nouns)).tolist())),
                      dict(zip(nouns, rng.standard_normal(len(nouns)).tolist())))


def _nouns(scene: dict) -> set[str]:
    return {obj["noun"] for obj in scene["objects"]}


def _unrelated(rng, movie: WorldMovie, scene: dict) -> int:
    """A scene sharing no object and no background with ``scene``."""
    options = [k for k, other in enumerate(movie.scenes)
               if not _nouns(other) & _nouns(scene) and other["background"] != scene["background"]]
    return int(rng.choice(options))


def _shots(rng, movie: WorldMovie, n_shots: int) -> list[dict]:
    """Each shot's frame and the scene its sentence describes; half the sentences describe their
    frame, half the frames after a cut show what the previous sentence described."""
    shots, described = [], None
    for _ in range(n_shots):
        if described is not None and rng.random() < 0.5:
            frame = described
        else:
            frame = int(rng.integers(len(movie.scenes)))
            if described is not None:
                frame = _unrelated(rng, movie, movie.scenes[described])
        described = frame if rng.random() < 0.5 else _unrelated(rng, movie, movie.scenes[frame])
        scene = movie.scenes[described]
        shots.append({"frame": frame, "described": described,
                      "sentence": str(scene["captions"][int(rng.integers(len(scene["captions"])))])})
    return shots


def frame_file(scene: dict) -> str:
    return f"frames/{scene['file_name']}"


def _world_events(rng, config: SyntheticIeegConfig, movie: WorldMovie) -> pd.DataFrame:
    """Scene cuts (with the new frame) and the words of each shot's sentence, with the planted
    vision value of the frame, language value of the sentence and their agreement per event."""
    cuts = _event_times(rng, config.duration_s, config.mean_scene_s, 1.5)
    shots = _shots(rng, movie, len(cuts))
    vision = {k: np.mean([movie.vision_value[n] for n in _nouns(s)]) for k, s in enumerate(movie.scenes)}
    language = {k: np.mean([movie.language_value[n] for n in _nouns(s)]) for k, s in enumerate(movie.scenes)}
    rows = []
    for k, (cut, shot) in enumerate(zip(cuts, shots)):
        frame = movie.scenes[shot["frame"]]
        previous = shots[k - 1]["described"] if k else None
        rows.append({"onset": cut, "trial_type": "scene_cut", "stim_file": frame_file(frame), "sentence": None,
                     "word": None, "vision": vision[shot["frame"]], "language": 0.0,
                     "agreement": float(previous == shot["frame"])})
        end = cuts[k + 1] if k + 1 < len(cuts) else config.duration_s - 1.5
        onset = cut + 0.3
        for word in shot["sentence"].rstrip(".").split():
            if onset > end - 0.1:
                break
            rows.append({"onset": onset, "trial_type": "word", "stim_file": None, "sentence": shot["sentence"],
                         "word": word, "vision": 0.0, "language": language[shot["described"]],
                         "agreement": float(shot["described"] == shot["frame"])})
            onset += 0.25 + rng.exponential(config.mean_word_gap_s - 0.25)
    events = pd.DataFrame(rows)
    events["onset"] = np.round(events["onset"] * config.sfreq) / config.sfreq
    for column in ("vision", "language"):  # standardised over the events that carry the value
        carried = events[column] != 0
        values = events.loc[carried, column]
        events.loc[carried, column] = (values - values.mean()) / values.std()
    return events


def _world_amplitudes(events: pd.DataFrame, kind: str, modulation: float) -> np.ndarray:
    is_cut = (events["trial_type"] == "scene_cut").to_numpy()
    if kind == "vision":
        return is_cut * np.clip(1 + modulation * events["vision"].to_numpy(), 0.1, None)
    if kind == "language":
        return ~is_cut * np.clip(1 + modulation * events["language"].to_numpy(), 0.1, None)
    if kind == "multimodal":
        return 0.1 + events["agreement"].to_numpy()
    return np.zeros(len(events))


def _response_kernel(sfreq: float) -> np.ndarray:
    t = np.arange(0, 0.6, 1 / sfreq)
    kernel = (t / 0.15) ** 2 * np.exp(2 * (1 - t / 0.15))  # peaks at 150 ms with value 1
    return kernel / kernel.max()


def _pink_noise(rng, n_channels: int, n_times: int) -> np.ndarray:
    white = rng.standard_normal((n_channels, n_times))
    spectrum = np.fft.rfft(white, axis=1)
    freqs = np.fft.rfftfreq(n_times)
    spectrum[:, 1:] /= np.sqrt(freqs[1:] * n_times)
    pink = np.fft.irfft(spectrum, n=n_times, axis=1)
    return pink / pink.std(axis=1, keepdims=True)


def _electrodes(config: SyntheticIeegConfig, rng) -> pd.DataFrame:
    rows = []
    for number, kind in enumerate(config.shafts):
        letter = chr(ord("A") + number)
        entry = np.asarray(SHAFT_CENTRES[kind]) + rng.normal(0, 4.0, 3)
        direction = np.array([1.0, 0.2, 0.1]) * (1 if entry[0] < 0 else -1)
        direction /= np.linalg.norm(direction)
        for contact in range(config.contacts_per_shaft):
            deep = contact >= config.contacts_per_shaft - 2
            rows.append(
                {
                    "name": f"{letter}{contact + 1}",
                    "shaft": letter,
                    "kind": "silent" if deep else kind,
                    "region": "white matter" if deep else REGIONS[kind],
                    "gain": 0.0 if deep or kind == "silent" else float(1.0 - 0.15 * contact),
                    "position": entry + 3.5 * contact * direction,
                }
            )
    return pd.DataFrame(rows)


def _simulate(config, rng, electrodes, events, amplitudes) -> np.ndarray:
    """``amplitudes[kind]``: each event's response amplitude in electrodes of that kind."""
    n_times = int(config.duration_s * config.sfreq)
    kernel = _response_kernel(config.sfreq)
    sos = signal.butter(4, [75.0, 145.0], btype="bandpass", fs=config.sfreq, output="sos")
    samples = np.round(events["onset"].to_numpy() * config.sfreq).astype(int)
    data = 20e-6 * _pink_noise(rng, len(electrodes), n_times)
    carrier = signal.sosfiltfilt(sos, rng.standard_normal((len(electrodes), n_times)), axis=1)
    carrier *= 2e-6 / carrier.std(axis=1, keepdims=True)
    for i, row in enumerate(electrodes.itertuples()):
        impulses = np.zeros(n_times)
        np.add.at(impulses, samples, amplitudes[row.kind])
        envelope = 1.0 + config.burst_gain * row.gain * np.convolve(impulses, kernel)[:n_times]
        data[i] += carrier[i] * envelope
    return data


def generate_ieeg(out_dir: str | os.PathLike, config: SyntheticIeegConfig | None = None) -> dict:
    """Write a BIDS-iEEG tree (sub-XX/ieeg/...) plus ``ground_truth.json`` to ``out_dir``."""
    import mne
    import mne_bids

    config = config or SyntheticIeegConfig()
    rng = np.random.default_rng(config.seed)
    scene_features = rng.standard_normal(64)
    word_features = {word: float(value) for word, value in zip(VOCABULARY, rng.standard_normal(len(VOCABULARY)))}
    truth = {
        "generator": "neurogaze.data.synthetic.ieeg",
        "params": asdict(config),
        "subjects": {},
        "scene_features": scene_features.tolist(),
        "word_features": word_features,
        "response_kernel": "gamma-like bump peaking 150 ms after the event, 600 ms long",
        "kinds": {
            "vision": "scene cuts x (1 + 0.5 scene feature)",
            "language": "words x (1 + 0.5 word feature)",
            "multimodal": f"words within {config.interaction_window} s after a cut (others 0.1)",
            "silent": "none",
        },
    }
    movie = None
    if config.world is not None:
        movie = read_world_movie(config.world, rng)
        truth["kinds"] = {
            "vision": f"scene cuts x (1 + {config.modulation} v(frame)), v standardised per-noun values "
                      "(vision_values)",
            "language": f"words x (1 + {config.modulation} l(sentence)), l standardised per-noun values "
                        "(language_values)",
            "multimodal": "words and cuts x (0.1 + agreement): 1 when the sentence is a caption of the frame",
            "silent": "none",
        }
        truth.update(vision_values=movie.vision_value, language_values=movie.language_value)
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as temp:
        if movie is not None:
            (temp / "stimuli" / "frames").mkdir(parents=True)
            for scene in movie.scenes:
                (temp / "stimuli" / frame_file(scene)).write_bytes(
                    (movie.folder / SCENE_FOLDER / scene["file_name"]).read_bytes())
        for index in range(config.n_subjects):
            subject = f"{index + 1:02d}"
            sub_rng = np.random.default_rng([config.seed, index])
            electrodes = _electrodes(config, sub_rng)
            if movie is None:
                events = _events(sub_rng, config, scene_features, word_features)
                amplitudes = {kind: _amplitudes(events, kind, scene_features, word_features) for kind in KINDS}
            else:
                events = _world_events(sub_rng, config, movie)
                amplitudes = {kind: _world_amplitudes(events, kind, config.modulation) for kind in KINDS}
            data = _simulate(config, sub_rng, electrodes, events, amplitudes)
            bad = str(electrodes["name"].iloc[int(sub_rng.integers(len(electrodes)))])
            data[electrodes.index[electrodes["name"] == bad][0]] *= 20.0  # a broken contact
            _write_subject(temp, subject, config, data, electrodes, events, bad, mne, mne_bids)
            truth["subjects"][subject] = {
                "bad_channels": [bad],
                "electrodes": {
                    row.name: {
                        "kind": row.kind,
                        "gain": row.gain,
                        "region": row.region,
                        "shaft": row.shaft,
                        "position_mm": np.round(row.position, 3).tolist(),
                    }
                    for row in electrodes.itertuples()
                },
                "n_events": {kind: int(n) for kind, n in events["trial_type"].value_counts().sort_index().items()},
            }
            if movie is None:
                truth["subjects"][subject]["n_words_after_cut"] = int(events["after_cut"].sum())
            else:
                truth["subjects"][subject]["agreement"] = {
                    kind: float(events.loc[events["trial_type"] == kind, "agreement"].mean())
                    for kind in ("word", "scene_cut")}
        write_json(temp / GROUND_TRUTH, truth)
    return json.loads((out_dir / GROUND_TRUTH).read_text())  # as a reader will see it


def _write_subject(root: Path, subject: str, config, data, electrodes, events, bad, mne, mne_bids) -> None:
    names = electrodes["name"].tolist()
    info = mne.create_info(names, config.sfreq, "seeg")
    raw = mne.io.RawArray(data, info, verbose="error")
    positions = {row.name: np.asarray(row.position) / 1000.0 for row in electrodes.itertuples()}
    raw.set_montage(
        mne.channels.make_dig_montage(ch_pos=positions, coord_frame="mni_tal"), on_missing="ignore", verbose="error"
    )
    raw.info["bads"] = [bad]
    codes = {"scene_cut": 1, "word": 2}
    samples = np.round(events["onset"].to_numpy() * config.sfreq).astype(int)
    mne_events = np.column_stack([samples, np.zeros_like(samples), events["trial_type"].map(codes).to_numpy()])
    bids_path = mne_bids.BIDSPath(
        subject=subject, task=config.task, datatype="ieeg", root=root, space="MNI152NLin2009aSym"
    )
    mne_bids.write_raw_bids(
        raw,
        bids_path,
        events=mne_events,
        event_id=codes,
        format=config.format,
        allow_preload=True,
        overwrite=True,
        verbose="error",
    )
    events_tsv = Path(bids_path.copy().update(suffix="events", extension=".tsv").fpath)
    written = pd.read_csv(events_tsv, sep="\t")
    written["word"] = events["word"].fillna("n/a").to_numpy()
    if "scene" in events:
        written["scene"] = events["scene"].map(lambda s: "n/a" if pd.isna(s) else str(int(s))).to_numpy()
    else:
        written["stim_file"] = events["stim_file"].fillna("n/a").to_numpy()
        written["sentence"] = events["sentence"].fillna("n/a").to_numpy()
    written.to_csv(events_tsv, sep="\t", index=False, na_rep="n/a")
