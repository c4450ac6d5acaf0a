# --- adhd ---
# Dey, Rao & Shah (2012): per-subject voxel-wise correlation networks of a loaded resting-state
# cohort and their degree, clustering and 3-cycle maps, one job per shard of adhd.subjects_per_job
# subjects (results/adhd/<dataset>/subject_maps/<first subject>.h5), gathered into
# results/adhd/<dataset>/cohort_maps.h5, then PCA-LDA with a discriminative mask learned on
# the training subjects (held-out test set, site-stratified CV, permuted labels; Dice against the
# planted regions of a synthetic cohort), then its figures.
ADHD = config["adhd"]


def adhd_out(file):
    return f"{RESULTS}/adhd/{{dataset}}/{file}"


def adhd_maps_inputs(wildcards):
    """The loaded cohort, and the list of test subjects when one is configured."""
    inputs = {"rest": f"{RESULTS}/data/rest/{wildcards.dataset}"}
    if ADHD["test_subjects"]:
        inputs["test_subjects"] = ADHD["test_subjects"]
    return inputs


def adhd_maps_parts(wildcards):
    """One maps file per shard of the cohort (the subjects are known once the loader's checkpoint
    has read the tables)."""
    if wildcards.dataset != "adhd200":
        raise ValueError(f"adhd.dataset {wildcards.dataset!r}: only adhd200 has a resting-state loader")
    return [adhd_out(f"subject_maps/{shard}.h5").format(dataset=wildcards.dataset)
            for shard in adhd200_shards(ADHD["subjects_per_job"])]


def adhd_evaluate_inputs(wildcards):
    """The cohort maps, and for a synthetic cohort its generator's folder (ground_truth.json)."""
    inputs = {"cohort_maps": adhd_out("cohort_maps.h5"), "phenotype": adhd_out("cohort_maps.phenotype.csv")}
    inputs = {key: value.format(dataset=wildcards.dataset) for key, value in inputs.items()}
    if not config["datasets"][wildcards.dataset]["root"]:
        inputs["synthetic"] = f"{RESULTS}/synthetic/{wildcards.dataset}"
    return inputs


rule adhd_subject_maps:
    input:
        rest=f"{RESULTS}/data/rest/{{dataset}}",
    output:
        subject_maps=adhd_out("subject_maps/{shard}.h5"),
    log:
        "logs/adhd/subject_maps_{dataset}_{shard}.log",
    wildcard_constraints:
        dataset="[^/]+",
        shard="[^/]+",
    params:
        **stage_params("adhd_subject_maps"),
    threads: stage_threads("adhd_subject_maps")
    conda:
        CONDA_ENV
    script:
        "../scripts/adhd_subject_maps.py"


rule adhd_maps:
    input:
        unpack(adhd_maps_inputs),
        parts=adhd_maps_parts,
    output:
        cohort_maps=adhd_out("cohort_maps.h5"),
        phenotype=adhd_out("cohort_maps.phenotype.csv"),
    log:
        "logs/adhd/maps_{dataset}.log",
    params:
        **stage_params("adhd_maps"),
    threads: stage_threads("adhd_maps")
    conda:
        CONDA_ENV
    script:
        "../scripts/adhd_maps.py"


rule adhd_evaluate:
    input:
        unpack(adhd_evaluate_inputs),
    output:
        metrics=adhd_out("metrics.csv"),
        predictions=adhd_out("predictions.csv"),
        maps=adhd_out("maps.h5"),
    log:
        "logs/adhd/evaluate_{dataset}.log",
    params:
        **stage_params("adhd_evaluate"),
    threads: stage_threads("adhd_evaluate")
    conda:
        CONDA_ENV
    script:
        "../scripts/adhd_evaluate.py"


rule adhd_plot:
    input:
        metrics=adhd_out("metrics.csv"),
        predictions=adhd_out("predictions.csv"),
        maps=adhd_out("maps.h5"),
    output:
        group_difference=report(f"{RESULTS}/figures/adhd/{{dataset}}_group_difference.png", caption="../report/adhd.rst", category="adhd"),
        mask=report(f"{RESULTS}/figures/adhd/{{dataset}}_learned_mask.png", caption="../report/adhd.rst", category="adhd"),
        roc=report(f"{RESULTS}/figures/adhd/{{dataset}}_roc.png", caption="../report/adhd.rst", category="adhd"),
        accuracy=report(f"{RESULTS}/figures/adhd/{{dataset}}_accuracy.png", caption="../report/adhd.rst", category="adhd"),
    log:
        "logs/adhd/plot_{dataset}.log",
    threads: stage_threads("adhd_plot")
    conda:
        CONDA_ENV
    script:
        "../scripts/adhd_plot.py"


# Every file of the chain is a final target, the cohort maps included: a deleted intermediate
# is rebuilt by a plain rerun (Snakemake does not rerun a missing file whose consumers exist).
if enabled("adhd"):
    FINAL_TARGETS += [
        adhd_out(name).format(dataset=ADHD["dataset"])
        for name in ("cohort_maps.h5", "cohort_maps.phenotype.csv", "metrics.csv", "predictions.csv", "maps.h5")
    ]
    FINAL_TARGETS += [
        f"{RESULTS}/figures/adhd/{ADHD['dataset']}_{name}.png" for name in ("group_difference", "learned_mask", "roc", "accuracy")
    ]
