# ClipCap captioner (Mokady et al. 2021), the captioner BrainSCUBA reads voxel preferences with:
# the CLIP image embeddings of a captioned set -> a trained captioner (demo: clipcap_train on the
# world's captions; paper: the released coco_weights.pt with a GPT-2 folder) -> held-out word
# recall of the captions it writes for the test split (clipcap_evaluate).
_CLIPCAP = config["clipcap"]
_CLIPCAP_FOLDER = f"{RESULTS}/clipcap/{_CLIPCAP['backbone']}"


def clipcap_features():
    features = image_features(_CLIPCAP["backbone"], _CLIPCAP["data"])
    return {"features": features, "feature_ids": features.removesuffix(".npy") + ".ids.txt"}


def clipcap_captioner():
    """The released checkpoint (and its GPT-2 folder) when configured, else the demo's."""
    if _CLIPCAP["weights"]:
        return {"captioner": _CLIPCAP["weights"], "gpt2": _CLIPCAP["gpt2"]}
    return {"captioner": f"{_CLIPCAP_FOLDER}/captioner"}


rule clipcap_train:
    input:
        **clipcap_features(),
        captions=f"{RESULTS}/data/{_CLIPCAP['data']}/captions.parquet",
    output:
        captioner=directory(f"{_CLIPCAP_FOLDER}/captioner"),
    log:
        "logs/clipcap/clipcap_train.log",
    params:
        **stage_params("clipcap_train"),
    threads: stage_threads("clipcap_train")
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/clipcap_train.py"


rule clipcap_evaluate:
    input:
        **clipcap_captioner(),
        **clipcap_features(),
        objects=f"{RESULTS}/data/{_CLIPCAP['data']}/objects.parquet",
        captions=f"{RESULTS}/data/{_CLIPCAP['data']}/captions.parquet",
    output:
        table=f"{_CLIPCAP_FOLDER}/metrics.csv",
        generated=f"{_CLIPCAP_FOLDER}/captions.parquet",
    log:
        "logs/clipcap/clipcap_evaluate.log",
    params:
        **stage_params("clipcap_evaluate"),
    threads: stage_threads("clipcap_evaluate")
    resources:
        gpu=1,
    conda:
        CONDA_ENV
    script:
        "../scripts/clipcap_evaluate.py"


if _CLIPCAP["enabled"]:
    FINAL_TARGETS += rules.clipcap_evaluate.output
