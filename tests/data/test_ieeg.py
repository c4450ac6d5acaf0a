"""BIDS-iEEG loader: the contract, a known-answer band feature, the planted electrodes, bad input."""

import shutil
from pathlib import Path

import mne
import mne_bids
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from neurogaze.config import load_config
from neurogaze.data.contracts import read_brain_responses
from neurogaze.data.ieeg import IeegOptions, assign_split, export_ieeg, ieeg_cohort, load_ieeg, load_ieeg_subject
from neurogaze.data.synthetic.ieeg import SyntheticIeegConfig, generate_ieeg
from neurogaze.errors import DataValidationError
from neurogaze.stages import IEEG_COHORT_KEYS, stage_params


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ieeg") / "bids"
    # 600 s (~140 scene cuts, ~500 words): with 150 s the planted effects were only 2-4 SE
    truth = generate_ieeg(root, SyntheticIeegConfig(n_subjects=1, duration_s=600.0, contacts_per_shaft=5, seed=2))
    out = root.parent / "brain"
    events = export_ieeg(root, out, IeegOptions())
    return root, out, truth, events


@pytest.fixture
def small_bids(tmp_path_factory, tmp_path):
    cache = tmp_path_factory.getbasetemp() / "ieeg_small"
    if not cache.exists():
        generate_ieeg(
            cache,
            SyntheticIeegConfig(
                n_subjects=1, duration_s=20.0, contacts_per_shaft=3, shafts=("vision", "language"), seed=5
            ),
        )
    root = tmp_path / "bids"
    shutil.copytree(cache, root)
    return root


def _file(root: Path, suffix: str) -> Path:
    return sorted(root.glob(f"sub-01/ieeg/*_{suffix}"))[0]


def test_contract_has_events_units_and_positions(dataset):
    root, out, truth, events = dataset
    data = read_brain_responses(out / "01.h5")
    planted = truth["subjects"]["01"]
    good = [name for name in planted["electrodes"] if name not in planted["bad_channels"]]
    assert data.responses.shape == (len(events), 2 * len(good))
    assert list(data.stim_ids) == list(events["stim_id"])
    assert set(data.split) == {"train", "test"}
    high_gamma = data.rois["band:high_gamma"]
    assert high_gamma.sum() == len(good) and data.rois["band:broadband"].sum() == len(good)
    assert list(data.electrode_names[high_gamma]) == good  # the bad contact is dropped
    expected = np.array([planted["electrodes"][name]["position_mm"] for name in good])
    np.testing.assert_allclose(data.electrode_positions[high_gamma], expected, atol=1e-3)  # mm, as planted
    assert np.isnan(data.noise_ceiling).all()
    assert {"word", "scene_cut"} == set(events["trial_type"])
    assert events.loc[events["trial_type"] == "word", "word"].notna().all()


def test_test_split_is_the_end_of_each_event_type():
    events = pd.DataFrame({"trial_type": ["a"] * 5 + ["b"] * 5, "onset": np.r_[np.arange(5), np.arange(5) + 0.5]})
    split = assign_split(events, 0.4)
    assert list(split) == ["train"] * 3 + ["test"] * 2 + ["train"] * 3 + ["test"] * 2


def test_features_table_has_one_value_per_window(dataset):
    _, out, _, events = dataset
    features = pd.read_parquet(out / "01.features.parquet")
    windows = IeegOptions().windows()
    n_channels = pd.read_parquet(out / "electrodes.parquet").shape[0]
    assert len(features) == len(events) * n_channels * len(windows) * 2
    assert np.isfinite(features["value"]).all()
    assert sorted(features["window_start"].unique()) == pytest.approx([w[0] for w in windows])


def test_planted_electrode_kinds_are_recovered(dataset):
    _, out, truth, events = dataset
    data = read_brain_responses(out / "01.h5")
    high_gamma = data.rois["band:high_gamma"]
    responses, names = data.responses[:, high_gamma], data.electrode_names[high_gamma]
    kinds = truth["subjects"]["01"]["electrodes"]
    table = events.set_index("stim_id").loc[data.stim_ids]
    cut = (table["trial_type"] == "scene_cut").to_numpy()
    cut_onsets = table.loc[cut, "onset"].to_numpy()
    lag = np.array(
        [t - cut_onsets[cut_onsets <= t].max() if (cut_onsets <= t).any() else np.inf for t in table["onset"]]
    )
    word_after_cut = ~cut & (lag < 1.0)
    word_alone = ~cut & (lag > 1.6)  # beyond the window and the response of the cut itself

    def t(a, b):  # Welch t of mean(a) - mean(b): the difference in standard errors
        return scipy.stats.ttest_ind(a, b, equal_var=False).statistic

    # In standard errors rather than response units: the planted effects are ~0.1 and an electrode
    # with gain just over 0.6 gives ~0.06, too close to a fixed 0.05 for any recording length. Over
    # generator seeds 0-7 (600 s): planted t >= 4.1 (mostly 5-8); silent electrodes |t| <= 2.7, and
    # |t| >= 4 has p = 6e-5 per electrode under the null (~10 silent ones: < 0.1 %).
    for name, column in zip(names, responses.T):
        kind, gain = kinds[name]["kind"], kinds[name]["gain"]
        if kind == "vision" and gain > 0.6:
            assert t(column[cut], column[~cut]) > 3, name
        elif kind == "language" and gain > 0.6:
            assert t(column[~cut], column[cut]) > 3, name
        elif kind == "multimodal" and gain > 0.6:
            assert t(column[word_after_cut], column[word_alone]) > 3, name
        elif kind == "silent":
            assert abs(t(column[cut], column[~cut])) < 4, name


def test_band_feature_has_a_known_answer(tmp_path):
    """A 100 Hz tone whose amplitude doubles at each event gives log(2) in high gamma."""
    sfreq, duration = 512.0, 20.0
    t = np.arange(int(sfreq * duration)) / sfreq
    onsets = np.arange(2.0, 18.0, 2.0)
    amplitude = np.ones_like(t)
    for onset in onsets:
        amplitude[(t >= onset) & (t < onset + 0.8)] = 2.0
    data = np.vstack([1e-5 * amplitude * np.sin(2 * np.pi * 100 * t), 1e-5 * np.sin(2 * np.pi * 90 * t + 1)])
    raw = mne.io.RawArray(data, mne.create_info(["A1", "A2"], sfreq, "seeg"), verbose="error")
    raw.set_montage(
        mne.channels.make_dig_montage({"A1": [0.01, 0, 0], "A2": [0.02, 0, 0]}, coord_frame="mni_tal"), verbose="error"
    )
    events = np.column_stack([(onsets * sfreq).astype(int), np.zeros(len(onsets), int), np.ones(len(onsets), int)])
    path = mne_bids.BIDSPath(
        subject="01", task="tone", datatype="ieeg", root=tmp_path / "bids", space="MNI152NLin2009aSym"
    )
    mne_bids.write_raw_bids(
        raw, path, events=events, event_id={"word": 1}, format="BrainVision", allow_preload=True, verbose="error"
    )
    options = IeegOptions(
        bands={"high_gamma": [70.0, 150.0]}, reference="none", response_window=(0.1, 0.6), test_fraction=0.25
    )
    export_ieeg(tmp_path / "bids", tmp_path / "out", options)
    result = read_brain_responses(tmp_path / "out" / "01.h5")
    np.testing.assert_allclose(result.responses[:, 0], np.log(2.0), atol=0.03)
    np.testing.assert_allclose(result.responses[:, 1], 0.0, atol=0.03)


def _expect_error(root: Path, field: str, tmp_path: Path, options: IeegOptions | None = None) -> DataValidationError:
    out = tmp_path / "out"
    with pytest.raises(DataValidationError) as info:
        export_ieeg(root, out, options or IeegOptions())
    assert info.value.field == field
    assert not out.exists()
    return info.value


def test_events_out_of_time_order_are_named(small_bids, tmp_path):
    path = _file(small_bids, "events.tsv")
    table = pd.read_csv(path, sep="\t")
    table.loc[[2, 3]] = table.loc[[3, 2]].to_numpy()
    table.to_csv(path, sep="\t", index=False)
    error = _expect_error(small_bids, "onset", tmp_path)
    assert "increasing" in str(error) and error.path == str(path)


def test_events_past_the_recording_are_named(small_bids, tmp_path):
    path = _file(small_bids, "events.tsv")
    table = pd.read_csv(path, sep="\t")
    table.loc[len(table) - 1, "onset"] = 500.0
    table.to_csv(path, sep="\t", index=False)
    assert "inside" in str(_expect_error(small_bids, "onset", tmp_path))


def test_missing_events_column_is_named(small_bids, tmp_path):
    path = _file(small_bids, "events.tsv")
    pd.read_csv(path, sep="\t").drop(columns=["trial_type"]).to_csv(path, sep="\t", index=False)
    assert _expect_error(small_bids, "trial_type", tmp_path).path == str(path)


def test_missing_channels_column_is_named(small_bids, tmp_path):
    path = _file(small_bids, "channels.tsv")
    pd.read_csv(path, sep="\t").drop(columns=["type"]).to_csv(path, sep="\t", index=False)
    assert _expect_error(small_bids, "type", tmp_path).path == str(path)


def test_channel_without_electrode_row_is_named(small_bids, tmp_path):
    path = _file(small_bids, "electrodes.tsv")
    table = pd.read_csv(path, sep="\t")
    table.iloc[1:].to_csv(path, sep="\t", index=False)
    error = _expect_error(small_bids, "name", tmp_path)
    assert error.path == str(path) and "no row for" in str(error)


def test_truncated_recording_is_named(small_bids, tmp_path):
    path = _file(small_bids, "ieeg.eeg")
    payload = path.read_bytes()
    path.write_bytes(payload[: len(payload) // 3])
    error = _expect_error(small_bids, "data", tmp_path)
    assert error.path.endswith("_ieeg.vhdr")


def test_nan_samples_are_named(small_bids, tmp_path):
    path = _file(small_bids, "ieeg.eeg")
    assert "IEEE_FLOAT_32" in _file(small_bids, "ieeg.vhdr").read_text()
    payload = bytearray(path.read_bytes())
    payload[400:404] = np.float32(np.nan).tobytes()
    path.write_bytes(bytes(payload))
    assert "NaN" in str(_expect_error(small_bids, "data", tmp_path))


def test_band_above_nyquist_is_named(small_bids, tmp_path):
    options = IeegOptions(bands={"too_high": [200.0, 300.0]})
    _expect_error(small_bids, "sampling_frequency", tmp_path, options)


def test_not_a_bids_root_is_named(tmp_path):
    _expect_error(tmp_path, "file", tmp_path)


def test_one_job_per_subject_then_the_gather_is_the_single_process_folder(tmp_path):
    """ieeg_cohort -> load_ieeg_subject per subject -> load_ieeg writes the bytes export_ieeg writes
    in one process: every subject's two files, events.parquet and electrodes.parquet."""
    root = tmp_path / "bids"
    generate_ieeg(root, SyntheticIeegConfig(n_subjects=2, duration_s=20.0, contacts_per_shaft=3,
                                            shafts=("vision", "language"), seed=5))
    settings = {"event_types": ["word", "scene_cut"], "baseline": None, "window_step": 0.05}
    whole = tmp_path / "whole"
    export_ieeg(root, whole, IeegOptions(event_types=("word", "scene_cut"), baseline=None, window_step=0.05))
    parts = tmp_path / "parts"
    cohort = {"subjects": parts / "subjects.csv", "events": parts / "events.parquet",
              "electrodes": parts / "electrodes.parquet"}
    subjects = ieeg_cohort(root=root, settings=settings, **cohort)
    assert subjects == ["01", "02"]
    files = []
    for subject in subjects:
        files += [parts / f"{subject}.h5", parts / f"{subject}.features.parquet"]
        load_ieeg_subject(root=root, subject=subject, responses=files[-2], features=files[-1], settings=settings)
    fanned = tmp_path / "fanned"
    with pytest.raises(DataValidationError, match="02.features.parquet"):  # a part short: named, nothing written
        load_ieeg(**cohort, parts=[str(file) for file in files[:-1]], brain=fanned)
    assert not fanned.exists()
    load_ieeg(**cohort, parts=[str(file) for file in files], brain=fanned)
    names = sorted(path.name for path in whole.iterdir())
    assert names == sorted(path.name for path in fanned.iterdir()) and len(names) == 6
    for name in names:
        assert (whole / name).read_bytes() == (fanned / name).read_bytes(), name
    # a subject the tree does not hold is named
    with pytest.raises(DataValidationError, match="sub-03"):
        load_ieeg_subject(root=root, subject="03", responses=parts / "03.h5", features=parts / "03.f.parquet",
                          settings=settings)


def test_the_checkpoint_gets_only_the_sidecar_settings():
    """A band or window setting reruns the subjects' jobs, not the checkpoint that lists them."""
    config = load_config(Path(__file__).resolve().parents[2] / "config" / "config.yaml")
    cohort = stage_params("ieeg_cohort", config)["settings"]
    assert set(cohort) == set(IEEG_COHORT_KEYS)
    assert set(cohort) <= set(stage_params("load_ieeg_subject", config)["settings"])
    changed = {**config, "datasets": {**config["datasets"], "ieeg": {**config["datasets"]["ieeg"], "tmax": 0.8,
                                                                     "bands": {"high_gamma": [60.0, 140.0]}}}}
    assert stage_params("ieeg_cohort", changed) == stage_params("ieeg_cohort", config)
    assert stage_params("load_ieeg_subject", changed) != stage_params("load_ieeg_subject", config)
