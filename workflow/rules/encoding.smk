# --- encoding ---
# The voxel-wise encoder (config `encoding`): ridge with a per-voxel alpha by K-fold CV, or
# BrainDiVE's linear probe, on the backbone's features of the stimulus set.
# fit -> results/encoding/<dataset>/<subject>/model.pt; evaluate -> metrics.csv (R^2, Pearson r and
# r / noise ceiling per unit, test split) and roi_summary.csv (their medians per ROI); plot -> the
# accuracy map as a NIfTI volume beside them and a glass brain (or fsaverage5) figure.
ENCODING = config["encoding"]


def encoding_out(file):
    return f"{RESULTS}/encoding/{{dataset}}/{{subject}}/{file}"


def encoding_inputs(wildcards):
    """The features, responses, stimuli (an augmenting probe embeds the images) and backbone weights."""
    return {
        "features": image_features(ENCODING["backbone"], ENCODING["stimuli"]),
        "responses": brain_responses(wildcards.dataset, wildcards.subject),
        "stimuli": stimulus_set(ENCODING["stimuli"]),
        "backbone": backbone_weights(ENCODING["backbone"]),
    }


rule encoding_fit:
    input:
        unpack(encoding_inputs),
    output:
        model=encoding_out("model.pt"),
    log:
        "logs/encoding/fit_{dataset}_{subject}.log",
    params:
        **stage_params("encoding_fit"),
    threads: stage_threads("encoding_fit")
    priority: CRITICAL_PATH_PRIORITY
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/encoding_fit.py"


rule encoding_evaluate:
    input:
        unpack(encoding_inputs),
        model=encoding_out("model.pt"),
    output:
        metrics=encoding_out("metrics.csv"),
        roi_summary=encoding_out("roi_summary.csv"),
    log:
        "logs/encoding/evaluate_{dataset}_{subject}.log",
    params:
        **stage_params("encoding_evaluate"),
    threads: stage_threads("encoding_evaluate")
    conda:
        CONDA_ENV
    script:
        "../scripts/encoding_evaluate.py"


rule encoding_plot:
    input:
        metrics=encoding_out("metrics.csv"),
        responses=brain_responses("{dataset}", "{subject}"),
    output:
        nifti=encoding_out(f"{ENCODING['figure']['metric']}.nii.gz"),
        figure=report(
            f"{RESULTS}/figures/encoding/{{dataset}}_{{subject}}_accuracy.png",
            caption="../report/encoding_accuracy.rst",
            category="encoding",
        ),
    log:
        "logs/encoding/plot_{dataset}_{subject}.log",
    params:
        **stage_params("encoding_plot"),
    threads: stage_threads("encoding_plot")
    conda:
        CONDA_ENV
    script:
        "../scripts/encoding_plot.py"


if enabled("encoding"):
    FINAL_TARGETS += [
        f"{RESULTS}/{path}"
        for subject in ENCODING["subjects"]
        for path in (
            f"encoding/{ENCODING['dataset']}/{subject}/metrics.csv",
            f"encoding/{ENCODING['dataset']}/{subject}/roi_summary.csv",
            f"figures/encoding/{ENCODING['dataset']}_{subject}_accuracy.png",
        )
    ]
