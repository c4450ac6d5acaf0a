# Shared stage: features. Image and caption embeddings of a stimulus set, cached as
# results/features/<backbone>/<set>.npy (captions: <set>.text.npy) with their .ids.txt; resumable
# (finished batches wait in <set>.npy.partial/). A released backbone is read from its configured
# file, a demo one from results/backbones/<name>/ (backbones.smk builds or trains it).
from neurogaze.stages import FEATURE_MODALITIES


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
        priority: CRITICAL_PATH_PRIORITY
        resources:
            gpu=1,
        conda:
            CONDA_ENV
        script:
            "../scripts/extract_features.py"
