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
                    "gain": 0.0 if deep or kind == "silent" else float(1.0 - 0.15 * contact),
                    "position": entry + 3.5 * contact * direction,
                }
            )
    return pd.DataFrame(rows)


def _simulate(config, rng, electrodes, events, scene_features, word_features) -> np.ndarray:
    n_times = int(config.duration_s * config.sfreq)
    kernel = _response_kernel(config.sfreq)
    sos = signal.butter(4, [75.0, 145.0], btype="bandpass", fs=config.sfreq, output="sos")
    samples = np.round(events["onset"].to_numpy() * config.sfreq).astype(int)
    data = 20e-6 * _pink_noise(rng, len(electrodes), n_times)
    carrier = signal.sosfiltfilt(sos, rng.standard_normal((len(electrodes), n_times)), axis=1)
    carrier *= 2e-6 / carrier.std(axis=1, keepdims=True)
    for i, row in enumerate(electrodes.itertuples()):
        impulses = np.zeros(n_times)
        np.add.at(impulses, samples, _amplitudes(events, row.kind, scene_features, word_features))
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
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as temp:
        for index in range(config.n_subjects):
            subject = f"{index + 1:02d}"
            sub_rng = np.random.default_rng([config.seed, index])
            electrodes = _electrodes(config, sub_rng)
            events = _events(sub_rng, config, scene_features, word_features)
            data = _simulate(config, sub_rng, electrodes, events, scene_features, word_features)
            bad = str(electrodes["name"].iloc[int(sub_rng.integers(len(electrodes)))])
            data[electrodes.index[electrodes["name"] == bad][0]] *= 20.0  # a broken contact
            _write_subject(temp, subject, config, data, electrodes, events, bad, mne, mne_bids)
            truth["subjects"][subject] = {
                "bad_channels": [bad],
                "electrodes": {
                    row.name: {
                        "kind": row.kind,
                        "gain": row.gain,
                        "shaft": row.shaft,
                        "position_mm": np.round(row.position, 3).tolist(),
                    }
                    for row in electrodes.itertuples()
                },
                "n_events": {kind: int(n) for kind, n in events["trial_type"].value_counts().sort_index().items()},
                "n_words_after_cut": int(events["after_cut"].sum()),
            }
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
    written["scene"] = events["scene"].map(lambda s: "n/a" if pd.isna(s) else str(int(s))).to_numpy()
    written.to_csv(events_tsv, sep="\t", index=False, na_rep="n/a")
