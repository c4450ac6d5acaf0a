# oat: OAT (Fang et al. 2024) on each object-array dataset of oat.datasets, read from its root
# (the configured folder, or the synthetic shelves): train (resumable from
# <model>.partial/) -> evaluate OAT and the baselines on the held-out subjects -> figures.

if enabled("oat"):

    rule oat_train:
        input:
            root=lambda wildcards: dataset_root(wildcards.dataset),
        output:
            out_dir=directory(f"{RESULTS}/oat/{{dataset}}/model"),
        log:
            "logs/oat/train_{dataset}.log",
        wildcard_constraints:
            dataset=r"[^/]+",
        params:
            **stage_params("oat_train"),
        threads: stage_threads("oat_train")
        conda:
            CONDA_ENV
        script:
            "../scripts/oat_train.py"

    rule oat_evaluate:
        input:
            model=f"{RESULTS}/oat/{{dataset}}/model",
            root=lambda wildcards: dataset_root(wildcards.dataset),
        output:
            out_dir=directory(f"{RESULTS}/oat/{{dataset}}/evaluation"),
        log:
            "logs/oat/evaluate_{dataset}.log",
        wildcard_constraints:
            dataset=r"[^/]+",
        params:
            **stage_params("oat_evaluate"),
        threads: stage_threads("oat_evaluate")
        conda:
            CONDA_ENV
        script:
            "../scripts/oat_evaluate.py"

    rule oat_plot:
        input:
            evaluation=f"{RESULTS}/oat/{{dataset}}/evaluation",
            root=lambda wildcards: dataset_root(wildcards.dataset),
        output:
            figures=directory(f"{RESULTS}/figures/oat/{{dataset}}"),
        log:
            "logs/oat/plot_{dataset}.log",
        wildcard_constraints:
            dataset=r"[^/]+",
        params:
            **stage_params("oat_plot"),
        threads: stage_threads("oat_plot")
        conda:
            CONDA_ENV
        script:
            "../scripts/oat_plot.py"

    FINAL_TARGETS += [f"{RESULTS}/figures/oat/{dataset}" for dataset in config["oat"]["datasets"]]
