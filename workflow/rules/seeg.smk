# seeg: SEEG vision-language integration (Subramaniam et al. 2024) on datasets.ieeg. The words and
# scene cuts are paired with frames and sentences (seeg_events), every backbone the models read
# embeds them and records its models' layers (seeg_features), every trained model's layers are
# cross-validated per subject (seeg_subject_layers) to pick its best over every subject
# (seeg_layers), and every model's ridge at that layer is cross-validated and bootstrapped per
# subject and alignment (seeg_encode_subject, one job per subject, gathered by seeg_encode), the
# comparisons make the site classes (seeg_sites), and the figures show them (seeg_plot). The
# electrodes' regions come from seeg.atlas, else (a synthetic set) from its ground truth.
from neurogaze.brain.seeg.models import backbone_inputs

SEEG = config["seeg"]


def seeg_out(name):
    return f"{RESULTS}/seeg/{name}"


def seeg_sites_inputs(wildcards):
    inputs = {"scores": seeg_out("scores.parquet"), "pvalues": seeg_out("pvalues.parquet"),
              "brain": f"{RESULTS}/data/brain/ieeg", "root": dataset_root("ieeg")}
    if SEEG["atlas"]:
        inputs.update(atlas_image=SEEG["atlas"]["image"], atlas_labels=SEEG["atlas"]["labels"])
    return inputs


# The rules exist only when enabled: their params name the models' backbones, which a config that
# leaves seeg off need not define.
if enabled("seeg"):
    SEEG_BACKBONES = sorted(backbone_inputs(SEEG))

    rule seeg_events:
        input:
            brain=f"{RESULTS}/data/brain/ieeg",
            root=dataset_root("ieeg"),
        output:
            pairs=seeg_out("pairs.parquet"),
        log:
            "logs/seeg/events.log",
        params:
            **stage_params("seeg_events"),
        threads: stage_threads("seeg_events")
        conda:
            CONDA_ENV
        script:
            "../scripts/seeg_events.py"

    rule seeg_features:
        input:
            pairs=seeg_out("pairs.parquet"),
            root=dataset_root("ieeg"),
            weights=lambda wildcards: backbone_weights(wildcards.backbone),
            tokenizer=lambda wildcards: backbone_tokenizer_folder(wildcards.backbone),
        output:
            features=seeg_out("features/{backbone}.npz"),
        log:
            "logs/seeg/features_{backbone}.log",
        wildcard_constraints:
            backbone="|".join(SEEG_BACKBONES),
        params:
            **stage_params("seeg_features"),
        threads: stage_threads("seeg_features")
        resources:
            gpu=1,
        conda:
            CONDA_ENV
        script:
            "../scripts/seeg_features.py"

    def seeg_subject_files(suffix):
        """Every iEEG subject's <subject><suffix> (the subjects are known once ieeg_cohort has run)."""
        return lambda wildcards: [seeg_out(f"subjects/{subject}{suffix}") for subject in ieeg_subjects()]

    rule seeg_subject_layers:
        input:
            pairs=seeg_out("pairs.parquet"),
            brain=f"{RESULTS}/data/brain/ieeg",
            features=expand(seeg_out("features/{backbone}.npz"), backbone=SEEG_BACKBONES),
        output:
            layers=seeg_out("subjects/{subject}.layers.parquet"),
        log:
            "logs/seeg/layers_{subject}.log",
        wildcard_constraints:
            subject="[^/.]+",
        params:
            **stage_params("seeg_subject_layers"),
        threads: stage_threads("seeg_subject_layers")
        conda:
            CONDA_ENV
        script:
            "../scripts/seeg_subject_layers.py"

    rule seeg_layers:
        input:
            parts=seeg_subject_files(".layers.parquet"),
        output:
            layers=seeg_out("layers.csv"),
        log:
            "logs/seeg/layers.log",
        params:
            **stage_params("seeg_layers"),
        threads: stage_threads("seeg_layers")
        conda:
            CONDA_ENV
        script:
            "../scripts/seeg_layers.py"

    rule seeg_encode_subject:
        input:
            pairs=seeg_out("pairs.parquet"),
            brain=f"{RESULTS}/data/brain/ieeg",
            features=expand(seeg_out("features/{backbone}.npz"), backbone=SEEG_BACKBONES),
            layers=seeg_out("layers.csv"),
        output:
            scores=seeg_out("subjects/{subject}.scores.parquet"),
            pvalues=seeg_out("subjects/{subject}.pvalues.parquet"),
        log:
            "logs/seeg/encode_{subject}.log",
        wildcard_constraints:
            subject="[^/.]+",
        params:
            **stage_params("seeg_encode_subject"),
        threads: stage_threads("seeg_encode_subject")
        conda:
            CONDA_ENV
        script:
            "../scripts/seeg_encode_subject.py"

    rule seeg_encode:
        input:
            parts=lambda wildcards: [part for suffix in (".scores.parquet", ".pvalues.parquet")
                                     for part in seeg_subject_files(suffix)(wildcards)],
        output:
            scores=seeg_out("scores.parquet"),
            pvalues=seeg_out("pvalues.parquet"),
        log:
            "logs/seeg/encode.log",
        params:
            **stage_params("seeg_encode"),
        threads: stage_threads("seeg_encode")
        conda:
            CONDA_ENV
        script:
            "../scripts/seeg_encode.py"

    rule seeg_sites:
        input:
            unpack(seeg_sites_inputs),
        output:
            sites=seeg_out("sites.parquet"),
            regions=seeg_out("regions.csv"),
            summary=seeg_out("summary.json"),
        log:
            "logs/seeg/sites.log",
        params:
            **stage_params("seeg_sites"),
        threads: stage_threads("seeg_sites")
        conda:
            CONDA_ENV
        script:
            "../scripts/seeg_sites.py"

    rule seeg_plot:
        input:
            sites=seeg_out("sites.parquet"),
            scores=seeg_out("scores.parquet"),
        output:
            electrodes=report(f"{RESULTS}/figures/seeg/electrodes.png", caption="../report/seeg.rst", category="seeg"),
            trained_vs_random=report(f"{RESULTS}/figures/seeg/trained_vs_random.png", caption="../report/seeg.rst",
                                     category="seeg"),
            ranking=report(f"{RESULTS}/figures/seeg/ranking.png", caption="../report/seeg.rst", category="seeg"),
        log:
            "logs/seeg/plot.log",
        params:
            **stage_params("seeg_plot"),
        threads: stage_threads("seeg_plot")
        conda:
            CONDA_ENV
        script:
            "../scripts/seeg_plot.py"

    FINAL_TARGETS += [seeg_out(name) for name in ("sites.parquet", "regions.csv", "summary.json")]
    # The pairs and the features are final targets too: the per-subject jobs that read them are
    # known only once ieeg_cohort has run, and a dry run must still list the GPU feature jobs (the
    # SLURM profile's threads are checked on it); a deleted one is rebuilt by a plain rerun.
    FINAL_TARGETS += [seeg_out("pairs.parquet")] + expand(seeg_out("features/{backbone}.npz"), backbone=SEEG_BACKBONES)
    FINAL_TARGETS += [f"{RESULTS}/figures/seeg/{name}.png" for name in ("electrodes", "trained_vs_random", "ranking")]
