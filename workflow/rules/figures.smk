# Stage family: figures. Rules are thin: they call workflow/scripts/*.py, which call neurogaze.

# --- encoding ---
# Accuracy brain map of the voxel-wise encoder: a NIfTI volume in the subject's space and a glass
# brain (or nilearn's fsaverage5 surface with `encoding.figure.surface`).


rule plot_encoder:
    input:
        metrics=f"{RESULTS}/encoding/{{dataset}}/{{subject}}/metrics.csv",
        responses=f"{RESULTS}/data/brain/{{dataset}}/{{subject}}.h5",
    output:
        nifti=f"{RESULTS}/encoding/{{dataset}}/{{subject}}/{ENCODING.get('figure', {}).get('metric', 'r_over_nc')}.nii.gz",
        figure=report(
            f"{RESULTS}/figures/encoding/{{dataset}}_{{subject}}_accuracy.png",
            caption="../report/encoding_accuracy.rst",
            category="encoding",
        ),
    log:
        "logs/figures/plot_encoder_{dataset}_{subject}.log",
    params:
        figure=ENCODING.get("figure", {}),
    conda:
        CONDA_ENV
    script:
        "../scripts/plot_encoder.py"


if enabled("encoding"):
    FINAL_TARGETS += [
        f"{RESULTS}/figures/encoding/{ENCODING['dataset']}_{subject}_accuracy.png" for subject in ENCODING["subjects"]
    ]


# --- gaze ---
# Metric bars of every scored method with the human ceiling, and scanpaths drawn on images.


rule plot_gaze:
    input:
        unpack(gaze_inputs),
        tables=gaze_metric_tables,
        predictions=gaze_predictions,
    output:
        metrics=report(
            f"{RESULTS}/figures/gaze/{{dataset}}_metrics.png",
            caption="../report/gaze_metrics.rst",
            category="gaze",
        ),
        scanpaths=report(
            f"{RESULTS}/figures/gaze/{{dataset}}_scanpaths.png",
            caption="../report/gaze_scanpaths.rst",
            category="gaze",
        ),
    log:
        "logs/figures/plot_gaze_{dataset}.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/plot_gaze.py"


FINAL_TARGETS += [f"{RESULTS}/figures/gaze/{dataset}_{kind}.png" for dataset in gaze_datasets() for kind in ("metrics", "scanpaths")]


# --- adhd ---


rule plot_adhd:
    input:
        metrics=f"{RESULTS}/adhd/{{dataset}}/metrics.csv",
        predictions=f"{RESULTS}/adhd/{{dataset}}/predictions.csv",
        maps=f"{RESULTS}/adhd/{{dataset}}/maps.h5",
    output:
        group_difference=report(f"{RESULTS}/figures/adhd/{{dataset}}_group_difference.png", caption="../report/adhd.rst", category="adhd"),
        mask=report(f"{RESULTS}/figures/adhd/{{dataset}}_learned_mask.png", caption="../report/adhd.rst", category="adhd"),
        roc=report(f"{RESULTS}/figures/adhd/{{dataset}}_roc.png", caption="../report/adhd.rst", category="adhd"),
        accuracy=report(f"{RESULTS}/figures/adhd/{{dataset}}_accuracy.png", caption="../report/adhd.rst", category="adhd"),
    log:
        "logs/figures/plot_adhd_{dataset}.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/plot_adhd.py"


if enabled("adhd"):
    FINAL_TARGETS += [
        f"{RESULTS}/figures/adhd/{ADHD['dataset']}_{name}.png"
        for name in ("group_difference", "learned_mask", "roc", "accuracy")
    ]


# --- eccnet (search asymmetry) ---
# RT against set size per experiment (human lines when the human file was found) and the
# asymmetry index of the model (against the human index when available).


rule plot_search_asymmetry:
    input:
        conditions=eccnet_out("search_asymmetry/conditions.csv"),
        asymmetry=eccnet_out("search_asymmetry/asymmetry.csv"),
    output:
        rt_vs_set_size=report(
            f"{RESULTS}/figures/eccnet/rt_vs_set_size.png",
            caption="../report/search_asymmetry.rst",
            category="search asymmetry",
        ),
        asymmetry_index=report(
            f"{RESULTS}/figures/eccnet/asymmetry_index.png",
            caption="../report/search_asymmetry.rst",
            category="search asymmetry",
        ),
    log:
        "logs/figures/plot_search_asymmetry.log",
    conda:
        CONDA_ENV
    script:
        "../scripts/plot_search_asymmetry.py"


if enabled("eccnet"):
    FINAL_TARGETS += [f"{RESULTS}/figures/eccnet/{name}.png" for name in ("rt_vs_set_size", "asymmetry_index")]


# --- braindive ---
# The top guided images per ROI, and predicted activation by condition (BrainDiVE, unguided from
# the same seeds, the dataset's top-N images).


rule plot_braindive:
    input:
        synthesis=f"{RESULTS}/braindive/{{dataset}}/{{subject}}/images",
        dataset_top=f"{RESULTS}/braindive/{{dataset}}/{{subject}}/dataset_top.csv",
        metrics=f"{RESULTS}/braindive/{{dataset}}/{{subject}}/metrics.csv",
    output:
        top_images=report(
            f"{RESULTS}/figures/braindive/{{dataset}}_{{subject}}_top_images.png",
            caption="../report/braindive_top_images.rst",
            category="braindive",
        ),
        activation=report(
            f"{RESULTS}/figures/braindive/{{dataset}}_{{subject}}_activation.png",
            caption="../report/braindive_activation.rst",
            category="braindive",
        ),
    log:
        "logs/figures/plot_braindive_{dataset}_{subject}.log",
    params:
        figure=BRAINDIVE["figure"],
    conda:
        CONDA_ENV
    script:
        "../scripts/plot_braindive.py"


if enabled("braindive"):
    FINAL_TARGETS += [
        f"{RESULTS}/figures/braindive/{BRAINDIVE['dataset']}_{subject}_{kind}.png"
        for subject in BRAINDIVE["subjects"]
        for kind in ("top_images", "activation")
    ]



# --- mindeye ---
# Test items with their top-k retrieved images (hits framed), and seen / low-level / final
# reconstructions.


rule plot_mindeye:
    input:
        stimuli=f"{RESULTS}/data/stimuli/{MINDEYE['stimuli']}",
        retrievals=mindeye_out("retrievals.csv"),
        reconstructions=mindeye_out("reconstructions"),
    output:
        retrieval=report(
            f"{RESULTS}/figures/mindeye/{{dataset}}_{{subject}}_retrieval.png",
            caption="../report/mindeye.rst",
            category="mindeye",
        ),
        reconstruction=report(
            f"{RESULTS}/figures/mindeye/{{dataset}}_{{subject}}_reconstruction.png",
            caption="../report/mindeye.rst",
            category="mindeye",
        ),
    log:
        "logs/figures/plot_mindeye_{dataset}_{subject}.log",
    wildcard_constraints:
        dataset=r"[^/_]+",
        subject=r"[^/_]+",
    params:
        settings=MINDEYE,
        seed=config["seed"],
    conda:
        CONDA_ENV
    script:
        "../scripts/plot_mindeye.py"


if enabled("mindeye"):
    FINAL_TARGETS += mindeye_targets(
        "figures/mindeye/{dataset}_{subject}_retrieval.png", "figures/mindeye/{dataset}_{subject}_reconstruction.png"
    )
