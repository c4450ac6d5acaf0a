"""The DAG as a user runs it: lint, dry runs of both configs, config errors, logs, determinism."""

import hashlib
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ..stats import above_chance, z_difference
from .conftest import run_snakemake
from .paper_tree import write_paper_tree

# Snakemake's linter asks for input functions in a separate file; one home per method keeps each
# method's input functions beside its rules on purpose (README, "Layout"), so that lint is waived.
WAIVED_LINTS = ("Mixed rules and functions in same snakefile",)


def test_lint_is_clean(workflow_copy):
    result = run_snakemake(workflow_copy, "--lint", check=False)
    output = result.stdout + result.stderr
    lints = re.findall(r"^\s+\* (.+?):?$", output, flags=re.M)
    # the linter exits 1 when it found any lint, waived ones included
    assert result.returncode == 0 or (lints and "Lints for" in output), output
    assert not [text for text in lints if not text.startswith(WAIVED_LINTS)], output


def test_demo_dry_run_builds_every_enabled_stage(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "--quiet", "rules")
    assert "all" in result.stdout


def test_paper_dry_run_on_a_fake_tree_of_the_real_layouts(workflow_copy, tmp_path):
    paper = yaml.safe_load((workflow_copy / "config" / "paper.yaml").read_text())
    configfile = write_paper_tree(paper, tmp_path / "real")
    result = run_snakemake(workflow_copy, "-n", "--configfile", str(configfile))
    assert "Nothing to be done" not in result.stdout
    assert not re.search(r"\bgenerate_", result.stdout), "the paper config must not run synthetic generators"
    # NevaClip's experiment: CapMIT1003's captions beside the paper's two caption controls, scored
    for model in ("nevaclip", "nevaclip_other_subject", "nevaclip_other_image"):
        assert f"results/gaze/{model}/capmit1003/metrics.csv" in result.stdout, model
    # MIT1003's fixations are the dataset's own extraction, an input of its loader
    assert "pysaliency/MIT1003" in result.stdout


def test_paper_config_marks_every_path_to_fill_in(repo_root):
    text = (repo_root / "config" / "paper.yaml").read_text()
    assert "FILL_IN" in text


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c.update(sed=1), "sed"),
        (lambda c: c.update(seed="zero"), "seed"),
        (lambda c: c.update(device="tpu"), "device"),
    ],
)
def test_bad_config_fails_naming_the_key(workflow_copy, edit, key):
    config = yaml.safe_load((workflow_copy / "config" / "config.yaml").read_text())
    edit(config)
    bad = workflow_copy / "config" / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = run_snakemake(workflow_copy, "-n", "--configfile", str(bad), check=False)
    assert result.returncode != 0
    assert f"config key '{key}'" in result.stdout + result.stderr


def _digest_tables(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("metrics*.csv"))
    }


# The rules that write the metric tables: rerun on the same models, they must give the same bytes
# (that training itself repeats to the bit is checked per model in the unit tests: the same seeds
# and inputs give byte-identical checkpoints, resumed or not, from the rule and from the CLI).
SCORING_RULES = ("encoding_evaluate", "braindive_evaluate", "mindeye_evaluate", "adhd_evaluate", "gaze_evaluate",
                 "gaze_human_consistency", "search_asymmetry_experiments", "evaluate_backbone", "clipcap_evaluate")


@pytest.mark.slow
def test_demo_runs_end_to_end_with_identical_metric_tables_on_rerun(workflow_copy):
    first_run = run_snakemake(workflow_copy, "--cores", "2")
    first = _digest_tables(workflow_copy / "results")
    assert first, "the demo produced no metric table"

    # Every job announces its log file; each must exist under logs/ and hold the stage's record.
    announced = set(re.findall(r"^\s*log: (\S+)", first_run.stdout + first_run.stderr, flags=re.M))
    assert announced, "no job declared a log"
    for log in announced:
        path = workflow_copy / log.rstrip(",")
        assert path.parts[len(workflow_copy.parts)] == "logs", log
        assert path.stat().st_size > 0, f"{log} is empty"

    _check_encoder_planted_truth(workflow_copy / "results" / "encoding" / "nsd" / "subj01" / "roi_summary.csv")
    _check_concept_rois_prefer_their_objects(workflow_copy / "results")
    _check_braindive_planted_truth(workflow_copy / "results" / "braindive" / "nsd" / "subj01" / "metrics.csv")
    _check_mindeye_retrieval(workflow_copy / "results" / "mindeye" / "nsd" / "subj01" / "metrics.csv")
    _check_world_models(workflow_copy / "results" / "backbones" / "metrics.csv")
    _check_captioner(workflow_copy / "results" / "clipcap" / "world-clip" / "metrics.csv")
    _check_nevaclip_on_captions(workflow_copy / "results")
    _check_seeg_sites(workflow_copy / "results")
    _run_notebooks(workflow_copy)

    # --until: the tables, not the figures drawn from them
    run_snakemake(workflow_copy, "--cores", "2", "--forcerun", *SCORING_RULES, "--until", *SCORING_RULES)
    assert _digest_tables(workflow_copy / "results") == first


def _check_encoder_planted_truth(summary_path: Path) -> None:
    """Issue 4's encoder check on the demo: the voxels planted as a linear map of the backbone's
    embedding ('feature') reach their noise ceiling; unselective voxels have r near 0."""
    import pandas as pd

    summary = pd.read_csv(summary_path).set_index(["roi", "metric"])
    assert summary.loc[("feature", "r_over_nc"), "median"] >= 0.8, summary.loc["feature"]
    assert summary.loc[("feature", "r_over_nc"), "mean"] >= 0.8, summary.loc["feature"]
    assert abs(summary.loc[("unselective", "pearson_r"), "median"]) < 0.1, summary.loc["unselective"]


CONCEPT_ROIS = {"faces": "face", "words": "text", "animals": "animal", "food": "food"}


def _check_concept_rois_prefer_their_objects(results: Path, top: int = 30) -> None:
    """Issue 14's item 5 on the NSD-like set: its concept ROIs respond to named things, so among
    the held-out images the encoder predicts a concept ROI to prefer most, images showing that
    concept's objects are far commoner than among all held-out images (one-sided binomial, 3 SE)."""
    import numpy as np

    from neurogaze.brain.encoding import load_encoder
    from neurogaze.data.contracts import read_brain_responses, read_features

    brain = read_brain_responses(results / "data" / "brain" / "nsd" / "subj01.h5")
    features, feature_ids = read_features(results / "features" / "world-clip" / "nsd.npy")
    test_ids = list(brain.select("test")[1])
    row = {stim: index for index, stim in enumerate(feature_ids)}
    predicted = load_encoder(results / "encoding" / "nsd" / "subj01" / "model.pt").predict(
        features[[row[stim] for stim in test_ids]])
    truth = json.loads((results / "synthetic" / "nsd" / "ground_truth.json").read_text())
    scene_of = dict(zip(truth["stimuli"]["stim_id"], truth["scenes"]))
    for roi, category in CONCEPT_ROIS.items():
        shows = np.asarray([any(obj["category"] == category for obj in (scene_of[stim] or {}).get("objects", []))
                            for stim in test_ids])
        preferred = np.argsort(-predicted[:, np.asarray(brain.rois[roi])].mean(axis=1), kind="stable")[:top]
        rate, base = shows[preferred].mean(), shows.mean()
        assert rate > base + 3 * math.sqrt(base * (1 - base) / top), (roi, rate, base)


def _check_braindive_planted_truth(metrics_path: Path) -> None:
    """Issue 4's demo checks: every ROI's guided images beat the unguided ones from the same seeds
    by at least one unguided SD of predicted activation; ROIs planted as selective to a pixel
    attribute (warmth, vertical energy, spatial frequency) get guided images that carry more of it
    (one-sided paired Wilcoxon)."""
    import pandas as pd

    table = pd.read_csv(metrics_path)
    values = table.set_index(["unit", "metric"])["value"]
    rois = sorted(table["unit"].unique())
    assert {"warm", "vertical", "spatial_frequency"} <= set(rois)
    for roi in rois:
        assert values[(roi, "gain_sd_units")] >= 1.0, roi
    planted = table[table["metric"].str.match(r"attr_.+_p_wilcoxon$")]
    assert set(planted["unit"]) == {"warm", "vertical", "spatial_frequency"}
    for row in planted.itertuples():
        attribute = row.metric[len("attr_") : -len("_p_wilcoxon")]
        assert values[(row.unit, f"attr_{attribute}_change")] > 0, row.unit
        assert row.value < 0.01, (row.unit, row.value)


def _check_mindeye_retrieval(metrics_path: Path) -> None:
    """Issue 5's demo checks: top-1 retrieval among 300 test items >= 80 % both ways (chance 1/300),
    and near chance once the test fMRI rows are shuffled."""
    import pandas as pd

    table = pd.read_csv(metrics_path)
    overall = table[table["unit"] == "all"].set_index("metric")["value"]
    assert overall["retrieval_subset"] == 300 and overall["chance"] == pytest.approx(1 / 300)
    assert overall["image_top1"] >= 0.8 and overall["brain_top1"] >= 0.8, overall
    # a shuffle keeps about one item in place, so "chance" here is about 2/300, not 1/300
    assert overall["image_top1_shuffled"] < 0.02 and overall["brain_top1_shuffled"] < 0.02, overall


def _check_world_models(metrics_path: Path) -> None:
    """Issue 14's checks of the world models on held-out scenes: CLIP retrieves and names what it
    sees; SimCLR groups images but cannot read text; the text-only model matches captions but
    cannot see; the same network untrained does none of it."""
    import pandas as pd

    table = pd.read_csv(metrics_path).set_index(["backbone", "probe", "attribute"])
    rows = {backbone: table.loc[backbone] for backbone in table.index.get_level_values(0).unique()}
    clip, simclr, text, untrained = (rows[f"world-{name}"] for name in ("clip", "simclr", "text", "untrained"))
    for probe in [("retrieval", "image_to_text"), ("retrieval", "text_to_image"), ("zero_shot", "noun"),
                  ("zero_shot", "category"), ("zero_shot", "background"), ("zero_shot", "colour")]:
        assert above_chance(clip.loc[probe]), (probe, clip.loc[probe])
        assert z_difference(clip.loc[probe], untrained.loc[probe]) > 3, (probe, clip.loc[probe], untrained.loc[probe])
    for probe in [("zero_shot", "noun"), ("zero_shot", "category"), ("zero_shot", "background")]:
        assert not above_chance(untrained.loc[probe]), (probe, untrained.loc[probe])
    for model in (simclr, text):  # a unimodal model has no matching second tower
        assert z_difference(clip.loc[("retrieval", "image_to_text")], model.loc[("retrieval", "image_to_text")]) > 3
    nearest, captions = ("nearest_neighbour", "noun"), ("retrieval", "caption_to_caption")
    assert z_difference(simclr.loc[nearest], untrained.loc[nearest]) > 3, (simclr, untrained)
    assert z_difference(text.loc[captions], untrained.loc[captions]) > 3, (text, untrained)


def _check_captioner(metrics_path: Path) -> None:
    """Issue 14's captioner check: the captions of held-out scenes name the objects in them far more
    often than a captioner blind to the image would (its recall: how often it says the word)."""
    import pandas as pd

    overall = pd.read_csv(metrics_path).set_index("category").loc["all"]
    chance = overall["chance_recall"]
    assert overall["recall"] > chance + 6 * math.sqrt(chance * (1 - chance) / overall["n_images"]), overall
    assert overall["precision"] > overall["chance"] + 6 * math.sqrt(
        overall["chance"] * (1 - overall["chance"]) / max(overall["n_mentions"], 1)), overall


def _check_nevaclip_on_captions(results: Path) -> None:
    """Issue 14's NevaClip check on the CapMIT1003-like set, whose observers click on the objects
    their captions name. Guided by those captions on the world's CLIP, NevaClip's fixations fall
    inside the objects' boxes more often than centre-bias and uniform scanpaths do (one-sided paired
    Wilcoxon over the scored images, p < 0.01), and more often than the same searches prompted by
    the free-viewing prompt (each caption's scanpath against its control, which has the same image
    and seed and differs only in the prompt; p < 0.01); its scanpaths move (on average at least 4
    distinct positions of 10, and under 5 % of them stay on one)."""
    import json

    import pandas as pd
    from scipy.stats import wilcoxon

    from neurogaze.metrics.objects import distinct_positions, fixations_in_boxes

    truth = json.loads((results / "synthetic" / "capmit1003" / "ground_truth.json").read_text())
    boxes = {Path(image["img"]).stem: [obj["bbox"] for obj in image["objects"]] for image in truth["images"]}
    tables = {"nevaclip": results / "nevaclip" / "capmit1003" / "fixations.parquet",
              "nevaclip_free_viewing": results / "nevaclip_free_viewing" / "capmit1003" / "fixations.parquet",
              "centre_bias": results / "gaze" / "centre_bias" / "capmit1003" / "fixations.parquet",
              "uniform": results / "gaze" / "uniform" / "capmit1003" / "fixations.parquet"}
    scanpaths = {name: pd.read_parquet(path) for name, path in tables.items()}
    shares = {name: fixations_in_boxes(table, boxes) for name, table in scanpaths.items()}
    per_image = pd.DataFrame({name: share.groupby(level="stim_id").mean() for name, share in shares.items()})
    assert len(per_image) >= 15 and not per_image.isna().any().any(), per_image
    for baseline in ("centre_bias", "uniform"):
        test = wilcoxon(per_image["nevaclip"], per_image[baseline], alternative="greater")
        assert test.pvalue < 0.01, (baseline, test, per_image.mean())
    observer = {name: share.rename(index=lambda subject: subject.split("/", 1)[-1], level="subject")
                for name, share in shares.items() if name.startswith("nevaclip")}
    pairs = pd.concat(observer, axis=1, join="inner")
    assert len(pairs) == len(shares["nevaclip"]), "every caption's scanpath has its free-viewing control"
    test = wilcoxon(pairs["nevaclip"], pairs["nevaclip_free_viewing"], alternative="greater")
    assert test.pvalue < 0.01, (test, pairs.mean())
    moves = distinct_positions(scanpaths["nevaclip"])
    assert moves.mean() >= 4 and (moves <= 1).mean() < 0.05, moves.describe()


def _more_by_3_se(better, worse) -> bool:
    """The mean per-site difference is above 3 of its standard errors (p ~ 0.001 one-sided)."""
    import numpy as np

    difference = (better - worse).to_numpy()
    return difference.mean() > 3 * difference.std(ddof=1) / np.sqrt(len(difference))


def _check_seeg_sites(results: Path) -> None:
    """Issue 16's demo checks: the planted multimodal electrodes are found (precision and recall
    >= 0.8), trained models beat their random versions on the planted sites each family's model
    reads, the linear combination does not explain the multimodal sites, and the vision-language
    model of the controlled pair beats its vision-only twin there."""
    import pandas as pd

    truth = json.loads((results / "synthetic" / "ieeg" / "ground_truth.json").read_text())
    kinds = {(subject, name): electrode["kind"] if electrode["gain"] > 0 else "silent"
             for subject, entry in truth["subjects"].items()
             for name, electrode in entry["electrodes"].items() if name not in entry["bad_channels"]}
    sites = pd.read_parquet(results / "seeg" / "sites.parquet").set_index(["subject", "electrode"])
    planted = {key for key, kind in kinds.items() if kind == "multimodal"}
    called = set(sites.index[sites["multimodal"]])
    assert len(planted) >= 5  # two subjects, four contacts each, at most one bad contact apiece
    precision, recall = len(called & planted) / max(len(called), 1), len(called & planted) / len(planted)
    assert precision >= 0.8 and recall >= 0.8, (sorted(called), sorted(planted))

    scores = pd.read_parquet(results / "seeg" / "scores.parquet")
    peak = scores.groupby(["alignment", "model", "subject", "electrode"])["test_r"].max()

    def at(kind, alignment, model):
        keys = [key for key, k in kinds.items() if k == kind]
        return peak.loc[alignment, model].reindex(pd.MultiIndex.from_tuples(keys))

    for kind, alignment, model in (("vision", "vision", "world-simclr"), ("language", "language", "world-text"),
                                   ("multimodal", "language", "world-clip"), ("multimodal", "vision", "world-clip")):
        assert _more_by_3_se(at(kind, alignment, model), at(kind, alignment, f"{model} (random)")), (kind, model)
    multimodal_sites = sites.loc[sorted(planted & set(sites.index))]
    for comparison in ("world-clip > linear combination", "controlled pair: world-clip > world-simclr"):
        assert multimodal_sites[f"wins: {comparison}"].mean() >= 0.8, comparison
    assert _more_by_3_se(at("multimodal", "language", "world-clip"), at("multimodal", "language", "linear combination"))
    assert _more_by_3_se(at("multimodal", "language", "world-clip"), at("multimodal", "language", "world-simclr"))
    summary = json.loads((results / "seeg" / "summary.json").read_text())
    assert summary["multimodal"] == len(called) and summary["paper"]["multimodal"] == 141
    regions = pd.read_csv(results / "seeg" / "regions.csv").set_index("region")
    assert regions.loc["temporo-parietal junction", "multimodal"] == len(called & planted)


def _run_notebooks(workdir: Path) -> None:
    """Each jupytext notebook is a valid notebook and runs top to bottom on the demo's results."""
    import jupytext

    for notebook in sorted((workdir / "notebooks").glob("*.py")):
        assert jupytext.read(notebook).cells, notebook
        result = subprocess.run(
            [sys.executable, str(notebook)], cwd=workdir, capture_output=True, text=True, timeout=600,
            env={**os.environ, "MPLBACKEND": "Agg"},
        )
        assert result.returncode == 0, f"{notebook.name}:\n{result.stderr[-3000:]}"
