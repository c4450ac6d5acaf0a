# Shared stage: features. Image and caption embeddings of a stimulus set, cached as
# results/features/<backbone>/<set>.npy (captions: <set>.text.npy) with their .ids.txt; resumable
# (finished batches wait in <set>.npy.partial/). A demo backbone is built (seeded) under
# results/backbones/<name>/; a released one is read from its configured file.
from neurogaze.stages import FEATURE_MODALITIES


rule build_demo_backbone:
    output:
        weights=f"{RESULTS}/backbones/{{name}}/{{model}}.pt",
    log:
        "logs/features/build_demo_backbone_{name}_{model}.log",
    params:
        **stage_params("build_demo_backbone"),
    threads: stage_threads("build_demo_backbone")
    conda:
        CONDA_ENV
    script:
        "../scripts/build_demo_backbone.py"


# one rule per modality (image: <set>.npy, text: <set>.text.npy)
for _modality in FEATURE_MODALITIES:
    _suffix = "" if _modality == "image" else f".{_modality}"

    rule:
        name: f"extract_{_modality}_features"
        input:
            stimuli=stimulus_set("{stimset}"),
            weights=lambda wildcards: backbone_weights(wildcards.backbone),
        output:
            features=f"{RESULTS}/features/{{backbone}}/{{stimset}}{_suffix}.npy",
            ids=f"{RESULTS}/features/{{backbone}}/{{stimset}}{_suffix}.ids.txt",
        log:
            f"logs/features/extract_{_modality}_features_{{backbone}}_{{stimset}}.log",
        wildcard_constraints:
            stimset=r"[^/.]+",
            backbone=r"[^/]+",
        params:
            **stage_params(f"extract_{_modality}_features"),
        threads: stage_threads(f"extract_{_modality}_features")
        resources:
            gpu=1,
        conda:
            CONDA_ENV
        script:
            "../scripts/extract_features.py"
