# --- brainscuba ---
# BrainSCUBA (Luo et al. 2024): every higher-visual voxel's encoder weight projected onto a pool
# of natural-image CLIP embeddings and captioned by ClipCap (clipcap.smk's captioner, on the same
# backbone); captions rendered by a text-to-image pipeline.
# encoder -> results/brainscuba/<dataset>/<subject>/encoder.pt; project -> projection.npz;
# caption -> captions.parquet (voxel-caption table), nouns.csv, person_share.csv, concepts.csv;
# images -> images/ (<roi>/*.png, unguided/*.png, index.csv); evaluate -> metrics.csv; plot ->
# words, UMAP, caption images and the person-share brain map.
# With brainscuba.pool empty the demo pool (the captioned set's train embeddings) is written first;
# with brainscuba.pipeline_dir null the images come from the demo's text-to-image pipeline
# (BrainDiVE's demo pipeline, its UNet trained further on the captioned set).
BRAINSCUBA = config["brainscuba"]
BRAINSCUBA_DEMO_POOL = f"{RESULTS}/brainscuba/demo_pool"
BRAINSCUBA_DEMO_PIPELINE = f"{RESULTS}/brainscuba/demo_pipeline"


def brainscuba_out(file):
    return f"{RESULTS}/brainscuba/{{dataset}}/{{subject}}/{file}"


def brainscuba_pool():
    return BRAINSCUBA["pool"] or [BRAINSCUBA_DEMO_POOL]


def brainscuba_pipeline_dir():
    return BRAINSCUBA["pipeline_dir"] or BRAINSCUBA_DEMO_PIPELINE


def brainscuba_encoder_inputs(wildcards):
    """What encoding.fit reads: features, responses, stimuli and the backbone's weights."""
    return {
        "features": image_features(BRAINSCUBA["backbone"], BRAINSCUBA["stimuli"]),
        "responses": brain_responses(wildcards.dataset, wildcards.subject),
        "stimuli": stimulus_set(BRAINSCUBA["stimuli"]),
        "backbone": backbone_weights(BRAINSCUBA["backbone"]),
    }


def brainscuba_evaluate_inputs(wildcards):
    inputs = {
        "encoder": brainscuba_out("encoder.pt").format(dataset=wildcards.dataset, subject=wildcards.subject),
        "responses": brain_responses(wildcards.dataset, wildcards.subject),
        "stimuli": stimulus_set(BRAINSCUBA["stimuli"]),
        "backbone": backbone_weights(BRAINSCUBA["backbone"]),
    }
    if BRAINSCUBA["compare_braindive"]:
        inputs["braindive"] = f"{RESULTS}/braindive/{wildcards.dataset}/{wildcards.subject}/images"
    return inputs


rule brainscuba_demo_pool:
    input:
        **clipcap_features(),
        captions=f"{RESULTS}/data/{_CLIPCAP['data']}/captions.parquet",
    output:
        pool=directory(BRAINSCUBA_DEMO_POOL),
    log:
        "logs/brainscuba/demo_pool.log",
    params:
        **stage_params("brainscuba_demo_pool"),
    threads: stage_threads("brainscuba_demo_pool")
    conda:
        CONDA_ENV
    script:
        "../scripts/brainscuba_demo_pool.py"


rule brainscuba_demo_pipeline:
    input:
        base=braindive_pipeline_dir(),
        stimuli=stimulus_set(_CLIPCAP["data"]),
        captions=f"{RESULTS}/data/{_CLIPCAP['data']}/captions.parquet",
    output:
        pipeline=directory(BRAINSCUBA_DEMO_PIPELINE),
    log:
        "logs/brainscuba/demo_pipeline.log",
    params:
        **stage_params("brainscuba_demo_pipeline"),
    threads: stage_threads("brainscuba_demo_pipeline")
    conda:
        CONDA_ENV
    script:
        "../scripts/brainscuba_demo_pipeline.py"


rule brainscuba_encoder:
    input:
        unpack(brainscuba_encoder_inputs),
    output:
        model=brainscuba_out("encoder.pt"),
    log:
        "logs/brainscuba/encoder_{dataset}_{subject}.log",
    params:
        **stage_params("brainscuba_encoder"),
    threads: stage_threads("brainscuba_encoder")
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/brainscuba_encoder.py"


rule brainscuba_project:
    input:
        encoder=brainscuba_out("encoder.pt"),
        responses=lambda wildcards: brain_responses(wildcards.dataset, wildcards.subject),
        pool=brainscuba_pool(),
    output:
        projection=brainscuba_out("projection.npz"),
    log:
        "logs/brainscuba/project_{dataset}_{subject}.log",
    params:
        **stage_params("brainscuba_project"),
    threads: stage_threads("brainscuba_project")
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/brainscuba_project.py"


rule brainscuba_caption:
    input:
        **clipcap_captioner(),
        projection=brainscuba_out("projection.npz"),
        responses=lambda wildcards: brain_responses(wildcards.dataset, wildcards.subject),
    output:
        captions=brainscuba_out("captions.parquet"),
        nouns=brainscuba_out("nouns.csv"),
        person=brainscuba_out("person_share.csv"),
        concepts=brainscuba_out("concepts.csv"),
    log:
        "logs/brainscuba/caption_{dataset}_{subject}.log",
    params:
        **stage_params("brainscuba_caption"),
    threads: stage_threads("brainscuba_caption")
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/brainscuba_caption.py"


rule brainscuba_images:
    input:
        captions=brainscuba_out("captions.parquet"),
        pipeline=brainscuba_pipeline_dir(),
    output:
        images=directory(brainscuba_out("images")),
    log:
        "logs/brainscuba/images_{dataset}_{subject}.log",
    params:
        **stage_params("brainscuba_images"),
    threads: stage_threads("brainscuba_images")
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/brainscuba_images.py"


rule brainscuba_evaluate:
    input:
        unpack(brainscuba_evaluate_inputs),
        images=brainscuba_out("images"),
    output:
        metrics=brainscuba_out("metrics.csv"),
    log:
        "logs/brainscuba/evaluate_{dataset}_{subject}.log",
    params:
        **stage_params("brainscuba_evaluate"),
    threads: stage_threads("brainscuba_evaluate")
    conda:
        CONDA_ENV
    script:
        "../scripts/brainscuba_evaluate.py"


rule brainscuba_plot:
    input:
        captions=brainscuba_out("captions.parquet"),
        nouns=brainscuba_out("nouns.csv"),
        projection=brainscuba_out("projection.npz"),
        responses=lambda wildcards: brain_responses(wildcards.dataset, wildcards.subject),
        images=brainscuba_out("images"),
    output:
        words=report(
            f"{RESULTS}/figures/brainscuba/{{dataset}}_{{subject}}_words.png",
            caption="../report/brainscuba.rst",
            category="brainscuba",
        ),
        umap=report(
            f"{RESULTS}/figures/brainscuba/{{dataset}}_{{subject}}_umap.png",
            caption="../report/brainscuba.rst",
            category="brainscuba",
        ),
        caption_images=report(
            f"{RESULTS}/figures/brainscuba/{{dataset}}_{{subject}}_images.png",
            caption="../report/brainscuba.rst",
            category="brainscuba",
        ),
        person_map=report(
            f"{RESULTS}/figures/brainscuba/{{dataset}}_{{subject}}_person_map.png",
            caption="../report/brainscuba.rst",
            category="brainscuba",
        ),
    log:
        "logs/brainscuba/plot_{dataset}_{subject}.log",
    params:
        **stage_params("brainscuba_plot"),
    threads: stage_threads("brainscuba_plot")
    conda:
        CONDA_ENV
    script:
        "../scripts/brainscuba_plot.py"


if enabled("brainscuba"):
    FINAL_TARGETS += [
        f"{RESULTS}/{path}"
        for subject in BRAINSCUBA["subjects"]
        for path in (
            f"brainscuba/{BRAINSCUBA['dataset']}/{subject}/metrics.csv",
            f"brainscuba/{BRAINSCUBA['dataset']}/{subject}/concepts.csv",
            *(f"figures/brainscuba/{BRAINSCUBA['dataset']}_{subject}_{name}.png"
              for name in ("words", "umap", "images", "person_map")),
        )
    ]
