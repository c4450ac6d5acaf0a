# dynamic: the flow decoder of Yeung et al. (2024) on the video set (clip-wise layout: one
# response per clip): flow targets + first-frame image features -> a decoder per subject
# (resumable from <model>.partial/) -> EPE against the baselines, the permutation test and
# animations; VideoMAE vs first-frame image features as voxel-wise encoders -> figures.

if enabled("dynamic"):

    rule dynamic_targets:
        input:
            videos=f"{RESULTS}/data/videos/video",
            **({"image_model": config["dynamic"]["image_model"]} if config["dynamic"]["image_model"] else {}),
        output:
            out_dir=directory(f"{RESULTS}/dynamic/targets"),
        log:
            "logs/dynamic/targets.log",
        params:
            **stage_params("dynamic_targets"),
        threads: stage_threads("dynamic_targets")
        resources:
            gpu=1 if config["dynamic"]["image_model"] else 0,
        conda:
            CONDA_ENV
        script:
            "../scripts/dynamic_targets.py"

    rule dynamic_train:
        input:
            targets=f"{RESULTS}/dynamic/targets",
            brain=f"{RESULTS}/data/brain/video",
        output:
            out_dir=directory(f"{RESULTS}/dynamic/{{subject}}/model"),
        log:
            "logs/dynamic/train_{subject}.log",
        wildcard_constraints:
            subject=r"[^/]+",
        params:
            **stage_params("dynamic_train"),
        threads: stage_threads("dynamic_train")
        resources:
            gpu=1,
        conda:
            CONDA_ENV
        script:
            "../scripts/dynamic_train.py"

    rule dynamic_evaluate:
        input:
            targets=f"{RESULTS}/dynamic/targets",
            brain=f"{RESULTS}/data/brain/video",
            model=f"{RESULTS}/dynamic/{{subject}}/model",
            videos=f"{RESULTS}/data/videos/video",
        output:
            out_dir=directory(f"{RESULTS}/dynamic/{{subject}}/evaluation"),
        log:
            "logs/dynamic/evaluate_{subject}.log",
        wildcard_constraints:
            subject=r"[^/]+",
        params:
            **stage_params("dynamic_evaluate"),
        threads: stage_threads("dynamic_evaluate")
        conda:
            CONDA_ENV
        script:
            "../scripts/dynamic_evaluate.py"

    rule dynamic_encoders:
        input:
            videos=f"{RESULTS}/data/videos/video",
            targets=f"{RESULTS}/dynamic/targets",
            brain=f"{RESULTS}/data/brain/video",
            **({"video_model": config["dynamic"]["video_model"]} if config["dynamic"]["video_model"] else {}),
        output:
            out_dir=directory(f"{RESULTS}/dynamic/{{subject}}/encoders"),
        log:
            "logs/dynamic/encoders_{subject}.log",
        wildcard_constraints:
            subject=r"[^/]+",
        params:
            **stage_params("dynamic_encoders"),
        threads: stage_threads("dynamic_encoders")
        resources:
            gpu=1 if config["dynamic"]["video_model"] else 0,
        conda:
            CONDA_ENV
        script:
            "../scripts/dynamic_encoders.py"

    rule dynamic_plot:
        input:
            evaluation=f"{RESULTS}/dynamic/{{subject}}/evaluation",
            encoders=f"{RESULTS}/dynamic/{{subject}}/encoders",
            videos=f"{RESULTS}/data/videos/video",
        output:
            figures=directory(f"{RESULTS}/figures/dynamic/{{subject}}"),
        log:
            "logs/dynamic/plot_{subject}.log",
        wildcard_constraints:
            subject=r"[^/]+",
        params:
            **stage_params("dynamic_plot"),
        threads: stage_threads("dynamic_plot")
        conda:
            CONDA_ENV
        script:
            "../scripts/dynamic_plot.py"

    FINAL_TARGETS += [f"{RESULTS}/figures/dynamic/{subject}" for subject in config["dynamic"]["subjects"]]
