"""The bad-input sweep: each case breaks one input the way a user's data does, runs the stage
through the `neurogaze` CLI exactly as its rule would, and expects a named error (the input file and
the field or record), a non-zero exit without a traceback, and nothing left in the output folder."""

import numpy as np
import pandas as pd
import pytest
import scipy.io

from neurogaze.cli import main
from neurogaze.data.synthetic import generate

from .data.dnv_layout import N_TRS, write_dnv, write_movie
from .data.gaze.conftest import coco_trial, kreiman_trial, write_cocosearch, write_kreiman, write_osie


def _subject(x, y, durations):
    return {"fix_x": np.array(x, float), "fix_y": np.array(y, float), "fix_duration": np.array(durations, float)}


def osie_off_image(root):
    write_osie(root, {"1001.jpg": [_subject([10, 95], [10, 20], [100, 100])]})
    return "fixations.mat", "fixations{1}.subjects{1}.fix_x/fix_y", "fixation 2 of subject s01"


def osie_nan(root):
    write_osie(root, {"1001.jpg": [_subject([10, 20], [float("nan"), 20], [100, 100])]})
    return "fixations.mat", "fixations{1}.subjects{1}.fix_x/fix_y", "finite"


def osie_negative_duration(root):
    write_osie(root, {"1001.jpg": [_subject([10, 20], [10, 20], [100, -5])]})
    return "fixations.mat", "fixations{1}.subjects{1}.fix_duration", "non-negative"


def osie_truncated(root):
    write_osie(root, {"1001.jpg": [_subject([10, 20], [10, 20], [100, 100])]})
    path = root / "data" / "eye" / "fixations.mat"
    path.write_bytes(path.read_bytes()[:300])
    return "fixations.mat", "file", "MATLAB"


def _eyelink(root, edit):
    generate(dataset="eyelink", root=root, settings={"n_subjects": 1, "n_trials": 1, "n_fixations": 3,
                                                      "screen_size_m": [0.38, 0.30], "distance_m": 0.67}, seed=0)
    path = root / "sub01.asc"
    lines = path.read_text(encoding="latin-1").splitlines()
    samples = [number for number, line in enumerate(lines) if line[:1].isdigit()]
    edit(lines, samples)
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return samples


def eyelink_time_going_back(root):
    def swap(lines, samples):
        lines[samples[10]], lines[samples[11]] = lines[samples[11]], lines[samples[10]]

    samples = _eyelink(root, swap)
    return "sub01.asc", f"line {samples[11] + 1} (trial", "strictly increasing"


def eyelink_corrupt_sample(root):
    def corrupt(lines, samples):
        lines[samples[5]] = lines[samples[5]].replace(".", "x", 1)

    samples = _eyelink(root, corrupt)
    return "sub01.asc", f"line {samples[5] + 1}", "a number"


def cocosearch_fixation_off_image(root):
    write_cocosearch(root, [coco_trial(X=[500.0, 40.5, 66.0])])
    return "coco_search18_fixations_TP_train_split1.json", "[0].X/Y", "fixation 1 of subject 2"


def kreiman_missing_variable(root):
    write_kreiman(root, [kreiman_trial()])
    path = next((root / "subjectsdata").glob("ResultsSaccades_*.mat"))
    scipy.io.savemat(path, {"nothing": np.zeros(1)})
    return "ResultsSaccades_", "results", "variable"


def _adhd200(root):
    generate(dataset="adhd200", root=root, settings={"n_subjects": 4, "n_timepoints": 40}, seed=0)
    return next(root.glob("*/*_phenotypic.csv"))


def adhd200_bad_age(root):
    path = _adhd200(root)
    table = pd.read_csv(path)
    table["Age"] = table["Age"].astype(object)
    table.loc[0, "Age"] = "eleven"
    table.to_csv(path, index=False)
    return "_phenotypic.csv", "Age", "eleven"


def ieeg_missing_events_column(root):
    generate(dataset="ieeg", root=root, settings={"n_subjects": 1, "duration_s": 20.0, "contacts_per_shaft": 3,
                                                  "shafts": ["vision", "language"]}, seed=0)
    path = next(root.glob("sub-01/ieeg/*_events.tsv"))
    pd.read_csv(path, sep="\t").drop(columns=["trial_type"]).to_csv(path, sep="\t", index=False)
    return "_events.tsv", "trial_type", "missing"


# case -> (builder, command, output arguments relative to the output folder)
def diffeye_recordings_shorter_than_l(root):
    # one trial of 3 fixations lasts about a second: fewer than the demo's L = 128 samples at 60 Hz
    generate(dataset="eyelink", root=root, settings={"n_subjects": 1, "n_trials": 1, "n_fixations": 3,
                                                      "screen_size_m": [0.38, 0.30], "distance_m": 0.67}, seed=0)
    return "raw", "samples", "at least L = 128 valid samples at 60 Hz (subject sub01, trial 0)"


def dnv_movie_shorter_than_its_run(root):
    write_dnv(root, subjects=("1", "2", "3"))
    write_movie(root / "stimuli" / "test1.mp4", N_TRS * 12 - 5)
    return "test1.mp4", "frames", "a movie as long as its run"


CASES = {
    "osie fixation off the image": (osie_off_image, "load-osie", ["fixations.parquet", "stimuli"]),
    "osie NaN fixation": (osie_nan, "load-osie", ["fixations.parquet", "stimuli"]),
    "osie negative duration": (osie_negative_duration, "load-osie", ["fixations.parquet", "stimuli"]),
    "osie truncated .mat": (osie_truncated, "load-osie", ["fixations.parquet", "stimuli"]),
    "eyelink time going back": (eyelink_time_going_back, "load-eyelink",
                                ["fixations.parquet", "stimuli", "--samples", "samples.parquet"]),
    "eyelink corrupt sample": (eyelink_corrupt_sample, "load-eyelink",
                               ["fixations.parquet", "stimuli", "--samples", "samples.parquet"]),
    "coco-search18 fixation off the image": (cocosearch_fixation_off_image, "load-cocosearch18",
                                             ["fixations.parquet", "stimuli", "--trials", "trials.parquet"]),
    "kreiman file without results": (kreiman_missing_variable, "load-kreiman",
                                     ["fixations.parquet", "stimuli", "--trials", "trials.parquet"]),
    "adhd-200 bad age": (adhd200_bad_age, "adhd200-cohort", ["phenotype.csv", "scans.parquet", "mask.nii.gz"]),
    "ieeg events without trial_type": (ieeg_missing_events_column, "ieeg-cohort",
                                       ["subjects.csv", "events.parquet", "electrodes.parquet"]),
    "diffeye recordings shorter than L": (diffeye_recordings_shorter_than_l, "diffeye-train", ["model"]),
    "dnv movie shorter than its run": (dnv_movie_shorter_than_its_run, "load-dnv", ["videos"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_named_exits_non_zero_and_writes_nothing(case, tmp_path, capsys):
    builder, command, outputs = CASES[case]
    root, out = tmp_path / "raw", tmp_path / "out"
    file_part, field, detail = builder(root)
    arguments = [str(out / name) if not name.startswith("--") else name for name in outputs]
    assert main([command, str(root), *arguments]) == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    error = stderr.strip().splitlines()[-1]
    assert error.startswith(f"neurogaze {command}: error: ")
    assert file_part in error and field in error and detail in error, error
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))
