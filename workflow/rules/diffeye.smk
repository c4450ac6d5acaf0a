# diffeye: DiffEye (Kara, Nisar & Rehg 2025) on each gaze dataset of diffeye.datasets, read from its
# root (the configured folder, or the synthetic copy): train with CPE and, for the ablation,
# without (resumable from <model>.partial/) -> sample and score the held-out images (and every
# image of the diffeye.unseen datasets) -> figures.


def diffeye_variants():
    return ["cpe", "no_cpe"] if config["diffeye"]["ablate_cpe"] else ["cpe"]


if enabled("diffeye"):

    rule diffeye_train:
        input:
            *gaze_source_files(config["diffeye"]),
            root=lambda wildcards: dataset_root(wildcards.dataset),
        output:
            out_dir=directory(f"{RESULTS}/diffeye/{{dataset}}/{{variant}}/model"),
        log:
            "logs/diffeye/train_{dataset}_{variant}.log",
        wildcard_constraints:
            dataset=r"[^/]+",
            variant=r"cpe|no_cpe",
        params:
            **stage_params("diffeye_train"),
        threads: stage_threads("diffeye_train")
        resources:
            gpu=1,
        conda:
            CONDA_ENV
        script:
            "../scripts/diffeye_train.py"

    rule diffeye_evaluate:
        input:
            *gaze_source_files(config["diffeye"]),
            model=f"{RESULTS}/diffeye/{{dataset}}/{{variant}}/model",
            root=lambda wildcards: dataset_root(wildcards.scored),
        output:
            out_dir=directory(f"{RESULTS}/diffeye/{{dataset}}/{{variant}}/evaluation_{{scored}}"),
        log:
            "logs/diffeye/evaluate_{dataset}_{variant}_{scored}.log",
        wildcard_constraints:
            dataset=r"[^/]+",
            variant=r"cpe|no_cpe",
            scored=r"[^/]+",
        params:
            **stage_params("diffeye_evaluate"),
        threads: stage_threads("diffeye_evaluate")
        resources:
            gpu=1,  # DDIM sampling of every image's trajectories
        conda:
            CONDA_ENV
        script:
            "../scripts/diffeye_evaluate.py"

    rule diffeye_plot:
        input:
            evaluations=lambda wildcards: [
                f"{RESULTS}/diffeye/{wildcards.dataset}/{variant}/evaluation_{wildcards.dataset}"
                for variant in diffeye_variants()
            ],
        output:
            figures=directory(f"{RESULTS}/figures/diffeye/{{dataset}}"),
        log:
            "logs/diffeye/plot_{dataset}.log",
        wildcard_constraints:
            dataset=r"[^/]+",
        params:
            **stage_params("diffeye_plot"),
        threads: stage_threads("diffeye_plot")
        conda:
            CONDA_ENV
        script:
            "../scripts/diffeye_plot.py"

    FINAL_TARGETS += [f"{RESULTS}/figures/diffeye/{dataset}" for dataset in config["diffeye"]["datasets"]]
    FINAL_TARGETS += [
        f"{RESULTS}/diffeye/{dataset}/cpe/evaluation_{unseen}"
        for dataset in config["diffeye"]["datasets"]
        for unseen in config["diffeye"]["unseen"]
        if unseen != dataset
    ]
