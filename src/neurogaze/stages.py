"""Every pipeline stage: the function a rule calls, the settings it takes and its thread count.

``STAGES`` maps a Snakemake rule name to its :class:`Stage`. A rule takes its params and threads
from here (``stage_params`` / ``stage_threads`` in ``workflow/rules/common.smk``) and the
``neurogaze`` CLI builds one command per entry (``mindeye_train`` -> ``neurogaze mindeye-train``),
so a rule and its command call the same function with the same settings on the same number of
threads, and give the same bytes.

A stage function is keyword-only; its parameters are named like the rule's inputs, outputs,
params and wildcards. ``params(config)`` returns only the settings the rule uses, so that an
unrelated config change reruns nothing. This module stays free of torch: the Snakefile imports it
at parse time, and each function is imported only when its stage runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from neurogaze.brain.seeg.models import backbone_inputs, backbone_layers
from neurogaze.config import backbone_spec
from neurogaze.data.gaze_sources import TABLES as GAZE_TABLES
from neurogaze.data.screen import screen_pixels_per_degree
from neurogaze.data.synthetic import GENERATORS, generator_settings
from neurogaze.errors import ConfigError
from neurogaze.gaze import BASELINES

FEATURE_MODALITIES = ("image", "text")


def _no_params(config: dict) -> dict:
    return {}


@dataclass(frozen=True)
class Stage:
    """A rule's function (``"package.module:function"``), its settings and its threads."""

    function: str
    params: Callable[[dict], dict] = _no_params
    threads: int = 1
    help: str = ""
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)  # CLI choices of wildcard arguments

    def load(self) -> Callable:
        module, _, name = self.function.partition(":")
        return getattr(importlib.import_module(module), name)


def _device(config: dict) -> dict:
    return {"device": config["device"]}


def _seed(config: dict) -> dict:
    return {"seed": config["seed"]}


# Threads: every rule runs on one thread unless a profile says otherwise (`set-threads:`; the
# SLURM profile gives GPU jobs 8 CPUs). The demo's numbers are those of one thread: a second one
# changes float32 reductions (BLAS predictions, the CV errors, a VAE fit) in their last bits, and a
# trained demo model with them.
STAGES: dict[str, Stage] = {}

# --- data ---
# One generate_<dataset> rule per synthetic generator and one load_<source> rule per gaze source;
# a loader's settings are its dataset entry without the pipeline's own keys.
_PIPELINE_KEYS = ("enabled", "root", "synthetic", "subjects_per_job")


def _dataset_settings(config: dict, name: str, *also_drop: str) -> dict:
    section = config["datasets"][name]
    return {key: value for key, value in section.items() if key not in _PIPELINE_KEYS + also_drop}


def _generate_params(name: str) -> Callable[[dict], dict]:
    def params(config: dict) -> dict:
        section = config["datasets"][name]
        backbone = section.get("backbone")
        return {"dataset": name, "settings": generator_settings(name, section), "seed": config["seed"],
                "backbone_spec": backbone_spec(config, backbone) if backbone else None}

    return params


for _name in GENERATORS:
    STAGES[f"generate_{_name}"] = Stage(
        "neurogaze.data.synthetic:generate", _generate_params(_name),
        help=f"write a synthetic {_name} set in its real layout (and ground_truth.json)")

NSD_LOAD_KEYS = ("roi", "roi_files", "sessions", "space", "beta_version", "beta_format", "chunk_trials",
                 "single_trials")
NSD_STIMULI_KEYS = ("subjects", "sessions", "space", "beta_version", "beta_format")
STAGES["load_nsd"] = Stage(
    "neurogaze.data.nsd:load_nsd", lambda c: {"settings": {k: c["datasets"]["nsd"][k] for k in NSD_LOAD_KEYS}},
    help="one NSD subject's ROI voxels -> the brain-response contract")
STAGES["load_nsd_stimuli"] = Stage(
    "neurogaze.data.nsd:load_nsd_stimuli",
    lambda c: {"settings": {k: c["datasets"]["nsd"][k] for k in NSD_STIMULI_KEYS}},
    help="every image the NSD subjects saw -> a stimulus set")


def _gaze_params(name: str) -> Callable[[dict], dict]:
    # a synthetic set lives in the results tree: its images are indexed relatively, so the tree can move
    return lambda config: {"dataset": name, "settings": _dataset_settings(config, name),
                           "relative_images": not config["datasets"][name]["root"]}


for _name in GAZE_TABLES:
    STAGES[f"load_{_name}"] = Stage("neurogaze.data.gaze:load", _gaze_params(_name),
                                    help=f"{_name} in its original layout -> fixations (+ tables) and stimuli")

STAGES["load_coco"] = Stage(
    "neurogaze.data.coco:load_coco",
    lambda c: {"settings": _dataset_settings(c, "coco"), "relative_images": not c["datasets"]["coco"]["root"]},
    help="COCO captions (or the demo world) -> a stimulus set with captions, and caption and object tables")
# ADHD-200 fans out: the checkpoint checks the release and writes the cohort table, one job per
# shard of subjects cleans the scans, the gather assembles the cohort folder. The shard size is no
# loader setting: changing it reruns the scans, not the checkpoint.
STAGES["adhd200_cohort"] = Stage(
    "neurogaze.data.adhd200:adhd200_cohort",
    lambda c: {"settings": _dataset_settings(c, "adhd200")},
    help="ADHD-200 (Athena layout): check the release, write the cohort table, the scan table and the mask")
STAGES["load_adhd200_subjects"] = Stage(
    "neurogaze.data.adhd200:load_adhd200_subjects",
    lambda c: {"settings": _dataset_settings(c, "adhd200"),
               "subjects_per_job": c["datasets"]["adhd200"]["subjects_per_job"]},
    help="ADHD-200: masked (and cleaned) resting-state series of one shard of subjects")
STAGES["load_adhd200"] = Stage(
    "neurogaze.data.adhd200:load_adhd200",
    help="ADHD-200: the cohort folder (resting-state contract per subject + phenotype + mask) from its shards")
# iEEG fans out per subject: the checkpoint checks every recording's sidecars and writes the
# subject list and the dataset's tables, one job per subject reads its recordings, the gather
# assembles the loaded folder.
# the checkpoint reads only the sidecars: a band or window setting reruns the subjects, not it
IEEG_COHORT_KEYS = ("task", "event_types", "test_fraction")
STAGES["ieeg_cohort"] = Stage(
    "neurogaze.data.ieeg:ieeg_cohort",
    lambda c: {"settings": {key: c["datasets"]["ieeg"][key] for key in IEEG_COHORT_KEYS}},
    help="BIDS-iEEG: check every recording's sidecars, write the subject list, the events and the electrodes")
STAGES["load_ieeg_subject"] = Stage(
    "neurogaze.data.ieeg:load_ieeg_subject",
    lambda c: {"settings": _dataset_settings(c, "ieeg", "braintreebank")},
    help="BIDS-iEEG: one subject's recordings -> its event responses and window features")
STAGES["load_ieeg"] = Stage(
    "neurogaze.data.ieeg:load_ieeg",
    help="BIDS-iEEG: the loaded folder (per-subject responses and features, events, electrodes) from its parts")
# The Brain Treebank's conversion fans out per subject: the checkpoint checks every trial of the
# release, one job per subject converts its trials, the gather assembles the BIDS root. A
# subject's job does not read the subject list: choosing more subjects reruns only the new ones.
def _braintreebank_settings(config: dict, *also_drop: str) -> dict:
    section = config["datasets"]["ieeg"]
    release = {key: value for key, value in (section["braintreebank"] or {}).items()
               if key not in ("release", "scenes") + also_drop}
    return {"settings": {**release, "tmin": section["tmin"], "tmax": section["tmax"]}}


STAGES["braintreebank_subjects"] = Stage(
    "neurogaze.data.braintreebank:braintreebank_subjects", _braintreebank_settings,
    help="the Brain Treebank's release: check every trial of the chosen subjects, write the subject list")
STAGES["convert_braintreebank_subject"] = Stage(
    "neurogaze.data.braintreebank:convert_braintreebank_subject",
    lambda c: _braintreebank_settings(c, "subjects"),
    help="one Brain Treebank subject's trials (h5, labels, timings, transcripts) and the user's scene cuts -> "
         "a BIDS-iEEG root of that subject")
STAGES["convert_braintreebank"] = Stage(
    "neurogaze.data.braintreebank:convert_braintreebank",
    help="the Brain Treebank's BIDS-iEEG root from its one-subject roots")
# the flow keys of datasets.video, shared by every stage that computes optical flow
_FLOW_KEYS = ("flow_method", "raft_weights", "raft_model", "raft_iterations", "farneback")
STAGES["load_video"] = Stage(
    "neurogaze.data.video:load_video",
    lambda c: {"settings": _dataset_settings(c, "video", "betas_root"), "device": c["device"],
               # a synthetic set keeps its videos in videos/ beside the betas in brain/
               "subfolder": "" if c["datasets"]["video"]["root"] else "videos"},
    help="videos (files or frame folders) -> frames, fps and optical flow")
# DNV: the movies in one job (a GPU job with RAFT's flow), each subject's runs in one job of its
# own (the subjects are listed in the config), the gather assembles the responses folder.
STAGES["load_dnv"] = Stage(
    "neurogaze.data.dnv:load_dnv",
    lambda c: {"settings": _dataset_settings(c, "dnv"), "device": c["device"],
               "flow": {key: c["datasets"]["video"][key] for key in _FLOW_KEYS}},
    help="the Dynamic Natural Vision layout (the movies, the first subject's CIFTI runs' lengths) -> one video "
         "per TR")
STAGES["load_dnv_subject"] = Stage(
    "neurogaze.data.dnv:load_dnv_subject",
    lambda c: {"settings": {"tr": c["datasets"]["dnv"]["tr"]}, "reference": c["datasets"]["dnv"]["subjects"][0]},
    help="one DNV subject's CIFTI runs -> per-TR responses (runs z-scored, repeats averaged, split-half ceiling)")
STAGES["load_dnv_responses"] = Stage(
    "neurogaze.data.dnv:load_dnv_responses",
    help="the DNV subjects' per-TR responses in one folder")
# Video-evoked betas fan out per subject: the checkpoint lists the betas folder's subjects, one
# job per subject reads its betas, the gather assembles the loaded folder.
def _betas_subfolder(config: dict) -> dict:
    # a synthetic set keeps its betas in brain/ beside the videos
    return {"subfolder": "" if config["datasets"]["video"]["betas_root"] else "brain"}


STAGES["video_responses_cohort"] = Stage(
    "neurogaze.data.video:video_responses_cohort", _betas_subfolder,
    help="video-evoked betas: the subjects of the betas folder (sub-<id>_betas.nii.gz)")
STAGES["load_video_responses_subject"] = Stage(
    "neurogaze.data.video:load_video_responses_subject", _betas_subfolder,
    help="video-evoked betas of one subject -> its brain responses (repeats averaged, split-half ceiling)")
STAGES["load_video_responses"] = Stage(
    "neurogaze.data.video:load_video_responses",
    help="video-evoked betas: the loaded folder (one brain-response file per subject) from its parts")

# --- backbones ---
STAGES["build_demo_backbone"] = Stage(
    "neurogaze.backbones:build_demo_backbone",
    lambda c: {"spec": lambda wildcards: backbone_spec(c, wildcards.name)},
    help="a demo backbone from its architecture and seed, saved like a released checkpoint")
STAGES["train_demo_backbone"] = Stage(
    "neurogaze.backbones.training:train_demo_backbone",
    lambda c: {"spec": lambda wildcards: backbone_spec(c, wildcards.name), "device": c["device"]},
    help="a demo backbone trained on a captioned set (CLIP, SimCLR or caption-caption), saved like a released "
         "checkpoint")
STAGES["evaluate_backbone"] = Stage(
    "neurogaze.backbones.evaluation:evaluate_backbone",
    lambda c: {"spec": lambda wildcards: backbone_spec(c, wildcards.backbone),
               "batch_size": c["features"]["batch_size"]},
    help="held-out retrieval, zero-shot probes and nearest-neighbour nouns of a backbone on the demo world")
STAGES["plot_backbones"] = Stage(
    "neurogaze.figures.backbones:plot",
    lambda c: {"backbones": list(c["backbone_evaluation"]["backbones"])},
    help="the backbones' evaluations side by side against chance")


# --- clipcap ---
STAGES["clipcap_train"] = Stage(
    "neurogaze.backbones.clipcap:train_clipcap",
    lambda c: {"settings": {"training": c["clipcap"]["training"]}, "seed": c["seed"], "device": c["device"]},
    help="the demo ClipCap captioner trained on a captioned set's CLIP image embeddings")
STAGES["clipcap_evaluate"] = Stage(
    "neurogaze.backbones.clipcap:evaluate_captioner",
    lambda c: {"settings": {key: c["clipcap"][key] for key in ("prefix_length", "normalize_prefix", "decoding",
                                                               "evaluation")},
               "device": c["device"]},
    help="captions of the test split and their held-out word recall per object category")


# --- features ---


def _feature_params(modality: str) -> Callable[[dict], dict]:
    def params(config: dict) -> dict:
        settings = {"modality": modality, "batch_size": config["features"]["batch_size"], "device": config["device"],
                    "spec": lambda wildcards: backbone_spec(config, wildcards.backbone)}
        if modality == "text":
            settings["text_column"] = config["features"]["text_column"]
        return settings

    return params


for _modality in FEATURE_MODALITIES:
    STAGES[f"extract_{_modality}_features"] = Stage(
        "neurogaze.features.extract:extract", _feature_params(_modality),
        help=f"{_modality} embeddings of a stimulus set (cached, resumable)")


# --- search_asymmetry ---
# eccNET (Gupta et al. 2021): backbone -> experiments -> plot. search_asymmetry.seed is used as
# given. File paths that are inputs (weights, image_dir, human_rt) come as params too, so that the
# CLI reads the configured files exactly as the rule does.
SEARCH_ASYMMETRY_POOLING = ("rf_min", "pool_type")  # the model settings the trunk trains with


def _search_asymmetry_backbone(config: dict) -> dict:
    section = config["search_asymmetry"]
    backbone = section["backbone"]
    if backbone["weights"]:  # released weights are repacked: nothing is trained
        return {"weights": backbone["weights"], "widths": backbone["widths"], "image_dir": None, "training": None,
                "model": None, "seed": None}
    return {"weights": None, "widths": backbone["widths"], "image_dir": backbone["image_dir"],
            "training": backbone["training"], "model": {key: section["model"][key] for key in SEARCH_ASYMMETRY_POOLING},
            "seed": section["seed"]}


def _search_asymmetry_experiments(config: dict) -> dict:
    section = config["search_asymmetry"]
    return {"human_rt": section["human_rt"], "widths": section["backbone"]["widths"], "model": section["model"],
            "experiments": section["experiments"], "n_per_set_size": section["n_per_set_size"],
            "dog_windows": section["dog_windows"], "seed": section["seed"], **_device(config)}


STAGES["search_asymmetry_backbone"] = Stage(
    "neurogaze.gaze.search_asymmetry.stages:backbone", _search_asymmetry_backbone,
    help="eccNET's VGG16 trunk: the released weights repacked, or a trunk trained here on rotation prediction")
STAGES["search_asymmetry_experiments"] = Stage(
    "neurogaze.gaze.search_asymmetry.stages:experiments", _search_asymmetry_experiments,
    help="eccNET on the six search-asymmetry experiments -> trials, RT tables, asymmetry index, metrics")
STAGES["search_asymmetry_plot"] = Stage(
    "neurogaze.figures.search_asymmetry:plot",
    help="RT against set size per experiment and the asymmetry-index figure")


# --- adhd ---
# Dey, Rao & Shah (2012): network maps -> PCA-LDA evaluation -> plot. Each rule gets only its
# share of the adhd section, so a classifier setting does not recompute the maps. The test list
# is an input of adhd_maps as well (a changed list reruns it).
# The maps fan out like the loader: adhd_subject_maps per shard of subjects (the graph settings),
# adhd_maps gathers them (the split settings).
ADHD_SUBJECT_MAPS_KEYS = ("graph", "features")
ADHD_MAPS_KEYS = ("features", "test_fraction")
ADHD_CLASSIFIER_KEYS = ("mask_method", "mask_alpha", "mask_top_k", "mask_min_voxels", "standardize", "pca_components",
                        "cv_folds", "n_permutations")


def _adhd_subject_maps(config: dict) -> dict:
    section = config["adhd"]
    return {"settings": {key: section[key] for key in ADHD_SUBJECT_MAPS_KEYS},
            "subjects_per_job": section["subjects_per_job"]}


def _adhd_maps(config: dict) -> dict:
    section = config["adhd"]
    return {"settings": {key: section[key] for key in ADHD_MAPS_KEYS}, "test_subjects": section["test_subjects"],
            **_seed(config)}


def _adhd_evaluate(config: dict) -> dict:
    return {"settings": {key: config["adhd"][key] for key in ADHD_CLASSIFIER_KEYS}, **_seed(config)}


STAGES["adhd_subject_maps"] = Stage(
    "neurogaze.brain.adhd.stages:subject_maps", _adhd_subject_maps,
    help="degree, clustering and 3-cycle maps of the voxel networks of one shard of a resting-state cohort")
STAGES["adhd_maps"] = Stage(
    "neurogaze.brain.adhd.stages:maps", _adhd_maps,
    help="the cohort's network maps gathered from its shards, with labels and the train/test split")
STAGES["adhd_evaluate"] = Stage(
    "neurogaze.brain.adhd.stages:evaluate", _adhd_evaluate,
    help="PCA-LDA with a learned discriminative mask: held-out test, site-stratified CV, permuted labels")
STAGES["adhd_plot"] = Stage(
    "neurogaze.figures.adhd:plot",
    help="glass brains of the group difference and the learned mask, ROC, accuracy against the paper")

# --- gaze ---
# Baselines -> scores of every scored method's scanpaths (baselines and models such as NevaClip)
# -> human ceiling -> plot. `gaze_baselines.enabled`/`kinds` and `gaze_evaluation.datasets`/
# `human_consistency` choose what the workflow builds; no rule reads them.
def _gaze_baseline(config: dict) -> dict:
    settings = {key: value for key, value in config["gaze_baselines"].items() if key not in ("enabled", "kinds")}
    return {"settings": settings, "split": config["gaze_evaluation"]["split"], **_seed(config)}


def gaze_pixels_per_degree(config: dict) -> dict:
    """One pixels-per-degree per gaze dataset, for every consumer (the evaluation's blur, DiffEye's
    rendering, detector and blur): derived from the dataset's screen geometry where its entry
    gives a complete one (MIT1003), else ``gaze_evaluation.pixels_per_degree``; a dataset given
    in both is an error. Datasets in neither use ``gaze_evaluation.default_pixels_per_degree``."""
    section = config["gaze_evaluation"]
    explicit = dict(section["pixels_per_degree"])
    derived = {}
    for name, dataset in config["datasets"].items():
        pixels_per_degree = screen_pixels_per_degree(dataset.get("screen"))
        if pixels_per_degree is None:
            continue
        if name in explicit:
            raise ConfigError(None, f"gaze_evaluation.pixels_per_degree.{name}",
                              f"no entry (got {explicit[name]}): datasets.{name}.screen gives "
                              f"{pixels_per_degree:.2f} px per degree")
        derived[name] = pixels_per_degree
    return {"pixels_per_degree": {**explicit, **derived},
            "default_pixels_per_degree": section["default_pixels_per_degree"]}


def _gaze_evaluation(config: dict) -> dict:
    section = config["gaze_evaluation"]
    settings = {key: value for key, value in section.items() if key not in ("datasets", "human_consistency")}
    return {"settings": {**settings, **gaze_pixels_per_degree(config)}, **_seed(config)}


STAGES["gaze_baseline"] = Stage(
    "neurogaze.gaze.stages:baseline", _gaze_baseline, choices={"baseline": BASELINES},
    help="centre-bias or uniform scanpaths for the scored split of a gaze dataset")
STAGES["gaze_evaluate"] = Stage(
    "neurogaze.gaze.stages:evaluate", _gaze_evaluation,
    help="a method's scanpaths against every human of each image: scanpath and saliency metrics")
STAGES["gaze_human_consistency"] = Stage(
    "neurogaze.gaze.stages:human_consistency", _gaze_evaluation,
    help="the leave-one-subject-out human ceiling of every gaze metric")
STAGES["gaze_plot"] = Stage(
    "neurogaze.figures.gaze:plot",
    help="metric bars of every scored method beside the human ceiling, and scanpaths on images")


# --- nevaclip ---
# NevaClip (Zanca et al. 2023): scanpaths of a scored split, scored by gaze_evaluate.
# nevaclip.seed is used as given.
def _nevaclip(config: dict) -> dict:
    section = config["nevaclip"]
    workflow_keys = ("enabled", "datasets", "backbone", "free_viewing_control", "caption_controls")
    settings = {key: value for key, value in section.items() if key not in workflow_keys}
    return {"backbone": backbone_spec(config, section["backbone"]), "settings": settings,
            "split": config["gaze_evaluation"]["split"], **_device(config)}


STAGES["nevaclip_scanpaths"] = Stage(
    "neurogaze.gaze.nevaclip.stages:scanpaths", _nevaclip,
    help="NevaClip scanpaths (CLIP + a differentiable fovea) for the scored split of a gaze dataset")


# --- seeg ---
# SEEG vision-language integration (Subramaniam et al. 2024): events -> features (one rule per
# backbone) -> layers and encode (per subject, each gathered) -> sites -> plot; each gets only its
# share of the seeg section.
SEEG_ENCODE_KEYS = ("models", "linear_combination", "controlled_pair", "band", "alphas", "n_folds", "n_resamples",
                    "bootstrap", "confidence", "srp_eps")
SEEG_LAYER_KEYS = ("models", "band", "alphas", "n_folds", "srp_eps")
SEEG_SITES_KEYS = ("models", "controlled_pair", "min_bins", "fdr_q", "atlas")


def _seeg_features(config: dict) -> dict:
    needed, layers = backbone_inputs(config["seeg"]), backbone_layers(config["seeg"])
    return {"spec": lambda wildcards: backbone_spec(config, wildcards.backbone),
            "inputs": lambda wildcards: list(needed[wildcards.backbone]),
            "layers": lambda wildcards: layers[wildcards.backbone], "srp_eps": config["seeg"]["srp_eps"],
            **_device(config)}


STAGES["seeg_events"] = Stage(
    "neurogaze.brain.seeg.stages:events",
    help="pair each word with the frame on screen and each scene cut with the sentence before it")
STAGES["seeg_features"] = Stage(
    "neurogaze.brain.seeg.stages:features", _seeg_features,
    help="one backbone's embeddings of every paired frame and sentence, and its models' layers")
# The encoding fans out per subject: every layer's ridge per subject, the gather choosing each
# model's layer over every subject, each model's ridge and bootstrap at that layer per subject,
# the gather of the subjects' scores.
STAGES["seeg_subject_layers"] = Stage(
    "neurogaze.brain.seeg.stages:subject_layers",
    lambda c: {"settings": {key: c["seeg"][key] for key in SEEG_LAYER_KEYS}},
    help="one subject's cross-validated ridge of every layer of every trained model")
STAGES["seeg_layers"] = Stage(
    "neurogaze.brain.seeg.stages:gather_layers", lambda c: {"settings": {"models": c["seeg"]["models"]}},
    help="the subjects' layer scores and each model's layer of the highest validation r over every subject")
STAGES["seeg_encode_subject"] = Stage(
    "neurogaze.brain.seeg.stages:encode_subject",
    lambda c: {"settings": {key: c["seeg"][key] for key in SEEG_ENCODE_KEYS}, **_seed(c)},
    help="one subject's cross-validated ridge of each model at its layer, event bootstrap and comparisons' p-values")
STAGES["seeg_encode"] = Stage(
    "neurogaze.brain.seeg.stages:encode",
    help="the subjects' scores and p-values in one table each")
STAGES["seeg_sites"] = Stage(
    "neurogaze.brain.seeg.stages:sites", lambda c: {"settings": {key: c["seeg"][key] for key in SEEG_SITES_KEYS}},
    help="FDR, wins, multimodal sites, each electrode's class and the counts per region")
STAGES["seeg_plot"] = Stage(
    "neurogaze.figures.seeg:plot", lambda c: {"settings": {"models": c["seeg"]["models"]}},
    help="electrodes on a glass brain by class, trained-vs-random scores, the model ranking at multimodal sites")


# --- oat ---
# OAT (Fang et al. 2024): train -> evaluate (OAT and its baselines) -> plot, each reading the
# object-array root itself, so `neurogaze oat-train ROOT OUT_DIR` runs on any such folder.
OAT_WORKFLOW_KEYS = ("enabled", "datasets", "evaluate_subjects", "split")


def _oat_train(config: dict) -> dict:
    section = config["oat"]
    return {"settings": {key: value for key, value in section.items() if key not in OAT_WORKFLOW_KEYS},
            "split": {key: value for key, value in section["split"].items()}}


STAGES["oat_train"] = Stage(
    "neurogaze.gaze.oat.stages:oat_train", _oat_train,
    help="train OAT on an object-array root (Kreiman arrays or STI shelves), split by subject; resumable")
STAGES["oat_evaluate"] = Stage(
    "neurogaze.gaze.oat.stages:oat_evaluate", lambda c: {"subjects": list(c["oat"]["evaluate_subjects"])},
    help="OAT's and the baselines' metric tables (Sequence Score, behavioural delta, ...) per held-out subject")
STAGES["oat_plot"] = Stage(
    "neurogaze.figures.oat:plot",
    help="predicted vs human object sequences on the layout, and metric bars")


# --- dynamic ---
# The flow decoder of Yeung et al. (2024) on the video set: targets -> train (per subject,
# resumable) -> evaluate -> plot.
def _dynamic_evaluation(config: dict) -> dict:
    return {**config["dynamic"]["evaluation"], "seed": config["seed"]}


def _dynamic_pretrain(kind: str):
    def params(config: dict) -> dict:
        section = config["dynamic"]
        motion = {"motion": section["pretrain"]["video_motion"]} if kind == "video" else {}
        return {"settings": section["pretrain"][kind], **motion, kind: section[kind], "seed": config["seed"],
                **_device(config)}

    return params


STAGES["dynamic_pretrain_video"] = Stage(
    "neurogaze.brain.dynamic.stages:dynamic_pretrain_video", _dynamic_pretrain("video"),
    help="VideoMAE pretraining (tube masking) of the tiny video model on a video set's training clips, then "
         "fine-tuning on their measured motion")
STAGES["dynamic_pretrain_image"] = Stage(
    "neurogaze.brain.dynamic.stages:dynamic_pretrain_image", _dynamic_pretrain("image"),
    help="masked image modelling of the tiny DINOv2 on the frames of a video set's training clips")
STAGES["dynamic_targets"] = Stage(
    "neurogaze.brain.dynamic.stages:dynamic_targets",
    lambda c: {"grid": c["dynamic"]["grid"], "image": c["dynamic"]["image"], **_device(c)},
    help="flow targets (grid x grid, grid cells per frame) and first-frame image features of a video set")
STAGES["dynamic_train"] = Stage(
    "neurogaze.brain.dynamic.stages:dynamic_train",
    lambda c: {"settings": c["dynamic"]["decoder"], "grid": c["dynamic"]["grid"], "window": c["dynamic"]["fmri_window"],
               "seed": c["seed"], **_device(c)},
    help="the flow decoder (fMRI + first-frame features -> flow codebook classes) of one subject; resumable")
STAGES["dynamic_video_diffusion"] = Stage(
    "neurogaze.brain.dynamic.stages:dynamic_video_diffusion",
    lambda c: {"settings": c["dynamic"]["video_diffusion"], "seed": c["seed"], **_device(c),
               "flow": {key: c["datasets"]["video"][key] for key in _FLOW_KEYS}},
    help="Stable Video Diffusion's own motion: image-to-video from each test clip's first frame, best-of-N flow")
STAGES["dynamic_evaluate"] = Stage(
    "neurogaze.brain.dynamic.stages:dynamic_evaluate", _dynamic_evaluation,
    help="EPE of the decoder, ridge, mean flow, shuffled fMRI and video diffusion per test video; permutation "
         "test; animations")
STAGES["dynamic_encoders"] = Stage(
    "neurogaze.brain.dynamic.stages:dynamic_encoders",
    lambda c: {"video": c["dynamic"]["video"], "image": c["dynamic"]["image"], "cv": c["dynamic"]["encoding_cv"],
               **_device(c)},
    help="voxel-wise ridge from VideoMAE vs first-frame image features: per-voxel test r and the difference map")
STAGES["dynamic_plot"] = Stage(
    "neurogaze.figures.dynamic:plot", lambda c: {"n_videos": c["dynamic"]["evaluation"]["n_animations"]},
    help="decoded vs true flow arrows, EPE bars, animation strips and the video-vs-image encoder map")


# --- diffeye ---
# DiffEye (Kara, Nisar & Rehg 2025): train (with and without CPE) -> evaluate on the held-out
# images (and on unseen datasets) -> plot, each reading a gaze root itself, so
# `neurogaze diffeye-train ROOT OUT_DIR` runs on any OSIE, MIT1003 or EyeLink folder.
DIFFEYE_WORKFLOW_KEYS = ("enabled", "datasets", "unseen", "ablate_cpe")
DIFFEYE_VARIANTS = ("cpe", "no_cpe")


def _diffeye_train(config: dict) -> dict:
    settings = {key: value for key, value in config["diffeye"].items() if key not in DIFFEYE_WORKFLOW_KEYS}
    return {"settings": {**settings, **gaze_pixels_per_degree(config)}}


STAGES["diffeye_train"] = Stage(
    "neurogaze.gaze.diffeye.stages:diffeye_train", _diffeye_train, choices={"variant": DIFFEYE_VARIANTS},
    help="train DiffEye on a gaze root (OSIE, MIT1003 or EyeLink layout), split 90/10 by image; resumable")
STAGES["diffeye_evaluate"] = Stage(
    "neurogaze.gaze.diffeye.stages:diffeye_evaluate", _seed,
    help="sample trajectories for a root's held-out (or all unseen) images: saliency maps, scanpaths, metric table")
STAGES["diffeye_plot"] = Stage(
    "neurogaze.figures.diffeye:plot",
    help="sampled trajectories over the image beside human ones, saliency maps, metric bars")


# --- encoding ---
# The voxel-wise encoder: fit -> evaluate -> plot. The fit gets only the estimator's own settings
# (a probe setting does not refit a ridge); the evaluation reads its settings from the checkpoint.
ENCODING_RIDGE_KEYS = ("alphas", "cv_folds", "dtype")
ENCODING_ESTIMATOR_KEYS = {"ridge": ENCODING_RIDGE_KEYS, "himalaya_ridge": ENCODING_RIDGE_KEYS,
                           "linear_probe": ("probe",)}


def _encoding_backbone(config: dict) -> dict:
    return {"backbone_spec": backbone_spec(config, config["encoding"]["backbone"])}


def _encoding_fit(config: dict) -> dict:
    section = config["encoding"]
    estimator = section["estimator"]
    settings = {"estimator": estimator, **{key: section[key] for key in ENCODING_ESTIMATOR_KEYS[estimator]}}
    return {"settings": settings, **_encoding_backbone(config), **_seed(config), **_device(config)}


STAGES["encoding_fit"] = Stage(
    "neurogaze.brain.encoding:fit", _encoding_fit,
    help="a voxel-wise encoder (per-voxel CV ridge or BrainDiVE's linear probe) on a subject's training split")
STAGES["encoding_evaluate"] = Stage(
    "neurogaze.brain.encoding:evaluate", lambda c: {**_encoding_backbone(c), **_seed(c), **_device(c)},
    help="test-split R^2, Pearson r and r / noise ceiling of every unit, and their medians per ROI")
STAGES["encoding_plot"] = Stage(
    "neurogaze.figures.encoding:plot", lambda c: {"settings": c["encoding"]["figure"]},
    help="the encoder's accuracy map: a NIfTI volume in the subject's space and a glass brain (or fsaverage5)")


# --- brainscuba ---
# The encoder is encoding.fit with BrainSCUBA's probe settings on the captioner's backbone; the
# captioner's own settings (prefix length, prefix normalisation, beam search) come from `clipcap`.
def _brainscuba_backbone(config: dict) -> dict:
    return {"backbone_spec": backbone_spec(config, config["brainscuba"]["backbone"])}


def _brainscuba_encoder(config: dict) -> dict:
    return {"settings": {"estimator": "linear_probe", "probe": config["brainscuba"]["encoder"]},
            **_brainscuba_backbone(config), **_seed(config), **_device(config)}


def _brainscuba_caption(config: dict) -> dict:
    section, clipcap = config["brainscuba"], config["clipcap"]
    settings = {"prefix_length": clipcap["prefix_length"], "normalize_prefix": clipcap["normalize_prefix"],
                "decoding": clipcap["decoding"], "nouns": section["nouns"], "person_words": section["person_words"],
                "rois": section["rois"], "concepts": section["concepts"]}
    return {"settings": settings, **_device(config)}


STAGES["brainscuba_demo_pool"] = Stage(
    "neurogaze.brain.brainscuba.stages:demo_pool",
    lambda c: {"shard_size": c["brainscuba"]["demo_pool"]["shard_size"]},
    help="the demo's embedding pool: a captioned set's train-split CLIP image embeddings as .npy shards")
STAGES["brainscuba_encoder"] = Stage(
    "neurogaze.brain.encoding:fit", _brainscuba_encoder,
    help="BrainSCUBA's encoder: a linear probe on unit-normalised CLIP embeddings with the paper's recipe")
STAGES["brainscuba_project"] = Stage(
    "neurogaze.brain.brainscuba.stages:project",
    lambda c: {"settings": c["brainscuba"]["projection"], "selection": c["brainscuba"]["selection"],
               "rois": c["brainscuba"]["rois"], **_seed(c)},
    help="each higher-visual voxel's weight projected onto the pool (softmax streamed over the shards)")
STAGES["brainscuba_caption"] = Stage(
    "neurogaze.brain.brainscuba.stages:caption", _brainscuba_caption,
    help="ClipCap captions of the projected voxel embeddings, nouns per ROI, person share, concept check")
STAGES["brainscuba_demo_pipeline"] = Stage(
    "neurogaze.brain.brainscuba.stages:demo_pipeline",
    lambda c: {"settings": c["brainscuba"]["demo_pipeline"]},
    help="the demo's text-to-image pipeline: BrainDiVE's demo pipeline with its UNet trained on a captioned set")
STAGES["brainscuba_images"] = Stage(
    "neurogaze.brain.brainscuba.stages:images",
    lambda c: {"settings": c["brainscuba"]["images"], "rois": c["brainscuba"]["image_rois"], **_device(c)},
    help="text-to-image renderings of voxel captions per ROI and unguided images from the same seeds")
STAGES["brainscuba_evaluate"] = Stage(
    "neurogaze.brain.brainscuba.stages:evaluate", lambda c: {**_brainscuba_backbone(c), **_seed(c), **_device(c)},
    help="predicted ROI activation of caption images vs unguided, BrainDiVE's and the dataset's top images")
STAGES["brainscuba_plot"] = Stage(
    "neurogaze.figures.brainscuba:plot", lambda c: {"settings": c["brainscuba"]["figure"]},
    help="caption words per ROI, UMAP of the projections, caption images, the person-share brain map")


# --- braindive ---
# BrainDiVE (Luo et al. 2023): demo pipeline -> synthesis -> evaluate -> plot, guided by the
# encoder of encoding_fit on the encoding backbone. braindive.sampling.seed and
# braindive.demo_pipeline.{vae,unet}_fit.seed are used as given.
def _braindive_synthesis(config: dict) -> dict:
    section = config["braindive"]
    return {"settings": section["sampling"], "rois": section["rois"], "localiser": section["localiser"],
            **_encoding_backbone(config), **_device(config)}


def _braindive_evaluate(config: dict) -> dict:
    section = config["braindive"]
    independent = section["independent_backbone"]
    independent_spec = backbone_spec(config, independent) if independent else None
    return {**_encoding_backbone(config), "independent_spec": independent_spec, "categories": section["categories"],
            "localiser": section["localiser"], **_device(config)}


STAGES["braindive_pipeline"] = Stage(
    "neurogaze.brain.braindive.stages:pipeline", lambda c: {"settings": c["braindive"]["demo_pipeline"]},
    help="the demo's tiny Stable Diffusion folder, its VAE fitted on the stimuli")
STAGES["braindive_synthesis"] = Stage(
    "neurogaze.brain.braindive.stages:synthesis", _braindive_synthesis,
    help="per ROI, images guided by the encoder's ROI mean, and unguided images from the same seeds")
STAGES["braindive_evaluate"] = Stage(
    "neurogaze.brain.braindive.stages:evaluate", _braindive_evaluate,
    help="predicted activation of guided, unguided and top dataset images; independent readout; planted attributes")
STAGES["braindive_plot"] = Stage(
    "neurogaze.figures.braindive:plot", lambda c: {"settings": c["braindive"]["figure"]},
    help="the top guided images per ROI, and predicted activation by condition")

# --- mindeye ---
# MindEye (Scotti et al. 2023): demo variation pipeline -> train -> low-level path -> reconstruct
# -> evaluate -> plot. Each rule's `settings` holds only the keys of the mindeye section it reads
# (e.g. `mindeye.figures` reaches the plot alone); seeds derive from the master seed in the stages.
def _mindeye_settings(config: dict, *keys: str) -> dict:
    """{key: config.mindeye[key]} for each key; a dotted key (model.token_dim) keeps its path."""
    section, settings = config["mindeye"], {}
    for key in keys:
        head, _, leaf = key.partition(".")
        if leaf:
            settings.setdefault(head, {})[leaf] = section[head][leaf]
        else:
            settings[head] = section[head]
    return settings


def _mindeye_params(*keys: str, backbone: bool = True) -> Callable[[dict], dict]:
    def params(config: dict) -> dict:
        values = {"settings": _mindeye_settings(config, *keys), **_seed(config), **_device(config)}
        if backbone:
            values["backbone_spec"] = backbone_spec(config, config["mindeye"]["backbone"])
        return values

    return params


def _mindeye_evaluate(config: dict) -> dict:
    names = list(dict.fromkeys(config["mindeye"]["evaluation"]["two_way_backbones"]))
    return {**_mindeye_params("roi", "evaluation")(config),
            "two_way_specs": [backbone_spec(config, name) for name in names]}


STAGES["mindeye_pipeline"] = Stage(
    "neurogaze.brain.mindeye.stages:pipeline", lambda c: {"settings": _mindeye_settings(c, "tiny_variation",
                                                                                        "model.token_dim")},
    help="the demo's tiny Versatile-Diffusion image-variation pipeline, a diffusers folder")
STAGES["mindeye_train"] = Stage(
    "neurogaze.brain.mindeye.stages:train", _mindeye_params("model", "roi"),
    help="train MindEye (voxels -> CLIP image tokens, contrastive + diffusion prior) on the train split; resumable")
STAGES["mindeye_train_low_level"] = Stage(
    "neurogaze.brain.mindeye.stages:train_low_level", _mindeye_params("low_level", "roi", backbone=False),
    help="train MindEye's low-level path (voxels -> the variation pipeline's VAE latents)")
STAGES["mindeye_reconstruct"] = Stage(
    "neurogaze.brain.mindeye.stages:reconstruct", _mindeye_params("reconstruction", "roi"),
    help="reconstruct test images: prior tokens -> best-of-N image variations (img2img from the low-level latents)")
STAGES["mindeye_evaluate"] = Stage(
    "neurogaze.brain.mindeye.stages:evaluate", _mindeye_evaluate,
    help="retrieval top-1 (and its shuffled-fMRI control), reconstruction metrics, each test item's top-k retrievals")
STAGES["mindeye_plot"] = Stage(
    "neurogaze.figures.mindeye:plot", lambda c: {"settings": _mindeye_settings(c, "figures")},
    help="the retrieval grid (hits framed) and the seen / low-level / final reconstruction grid")


def stage(name: str) -> Stage:
    if name not in STAGES:
        raise KeyError(f"no stage {name!r} (known: {', '.join(sorted(STAGES))})")
    return STAGES[name]


def stage_params(name: str, config: dict) -> dict:
    return stage(name).params(config)


def stage_threads(name: str) -> int:
    return stage(name).threads


__all__ = ["STAGES", "Stage", "backbone_spec", "stage", "stage_params", "stage_threads"]
