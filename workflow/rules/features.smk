# Stage family: features. Rules are thin: they call workflow/scripts/*.py, which call neurogaze.

# --- features ---
# Image (and caption) embeddings of a stimulus set, cached as results/features/<backbone>/<set>.npy
# (+ .ids.txt). Resumable: finished batches wait in <set>.npy.partial/ when a job is interrupted.
# A demo backbone without a `weights` path is built (seeded) under results/backbones/<name>/.


rule build_demo_backbone:
    output:
        f"{RESULTS}/backbones/{{name}}/{{model}}.pt",
    log:
        "logs/features/build_demo_backbone_{name}_{model}.log",
    params:
        spec=lambda wildcards: backbone_specs()[wildcards.name],
    conda:
        CONDA_ENV
    script:
        "../scripts/build_demo_backbone.py"


rule extract_image_features:
    input:
        stimuli=f"{RESULTS}/data/stimuli/{{stimset}}",
        backbone=lambda wildcards: backbone_weights(wildcards.backbone),
    output:
        features=f"{RESULTS}/features/{{backbone}}/{{stimset}}.npy",
        ids=f"{RESULTS}/features/{{backbone}}/{{stimset}}.ids.txt",
    wildcard_constraints:
        stimset=r"[^/.]+",
        backbone=r"[^/]+",
    log:
        "logs/features/extract_image_features_{backbone}_{stimset}.log",
    params:
        modality="image",
        backbones=backbone_specs(),
        batch_size=config["features"]["batch_size"],
        text_column=config["features"]["text_column"],
        device=config["device"],
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/extract_features.py"


rule extract_text_features:
    input:
        stimuli=f"{RESULTS}/data/stimuli/{{stimset}}",
        backbone=lambda wildcards: backbone_weights(wildcards.backbone),
    output:
        features=f"{RESULTS}/features/{{backbone}}/{{stimset}}.text.npy",
        ids=f"{RESULTS}/features/{{backbone}}/{{stimset}}.text.ids.txt",
    wildcard_constraints:
        stimset=r"[^/.]+",
        backbone=r"[^/]+",
    log:
        "logs/features/extract_text_features_{backbone}_{stimset}.log",
    params:
        modality="text",
        backbones=backbone_specs(),
        batch_size=config["features"]["batch_size"],
        text_column=config["features"]["text_column"],
        device=config["device"],
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/extract_features.py"
