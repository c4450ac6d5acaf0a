# dynamic: the flow decoder of Yeung et al. (2024) on the video set of dynamic.dataset (clip-wise:
# one response per clip; dnv: one sample per TR, the decoder reading a window of TRs): flow
# targets + first-frame image features -> a decoder per subject (resumable from <model>.partial/)
# -> EPE against the baselines, the permutation test and animations; VideoMAE vs first-frame
# image features as voxel-wise encoders (not with dnv's 3-frame TRs) -> figures. Without
# configured feature-model folders (the demo) both models are pretrained on the training clips first.

if enabled("dynamic"):
    # the clip-wise layout (datasets.video) or the time-series layout (datasets.dnv, load_dnv + its gather):
    # both arrive as a video set + per-subject responses, so every rule below reads either
    DYNAMIC_VIDEOS = f"{RESULTS}/data/videos/{config['dynamic']['dataset']}"
    DYNAMIC_BRAIN = f"{RESULTS}/data/brain/{config['dynamic']['dataset']}"
    # a DNV sample is one TR of frames_per_tr frames: VideoMAE needs video.num_frames of them
    DYNAMIC_ENCODERS = (config["dynamic"]["dataset"] != "dnv"
                        or config["datasets"]["dnv"]["frames_per_tr"] >= config["dynamic"]["video"]["num_frames"])

    def dynamic_model(kind):
        """The configured feature-model folder, else the demo's model pretrained on the training clips."""
        return config["dynamic"][f"{kind}_model"] or f"{RESULTS}/dynamic/pretrained/{kind}"

    rule dynamic_pretrain_video:
        input:
            videos=DYNAMIC_VIDEOS,
        output:
            out_dir=directory(f"{RESULTS}/dynamic/pretrained/video"),
        log:
            "logs/dynamic/pretrain_video.log",
        params:
            **stage_params("dynamic_pretrain_video"),
        threads: stage_threads("dynamic_pretrain_video")
        resources:
            gpu=1,
        conda:
            CONDA_ENV
        script:
            "../scripts/dynamic_pretrain_video.py"

    rule dynamic_pretrain_image:
        input:
            videos=DYNAMIC_VIDEOS,
        output:
            out_dir=directory(f"{RESULTS}/dynamic/pretrained/image"),
        log:
            "logs/dynamic/pretrain_image.log",
        params:
            **stage_params("dynamic_pretrain_image"),
        threads: stage_threads("dynamic_pretrain_image")
        resources:
            gpu=1,
        conda:
            CONDA_ENV
        script:
            "../scripts/dynamic_pretrain_image.py"

    rule dynamic_targets:
        input:
            videos=DYNAMIC_VIDEOS,
            image_model=dynamic_model("image"),
        output:
            out_dir=directory(f"{RESULTS}/dynamic/targets"),
        log:
            "logs/dynamic/targets.log",
        params:
            **stage_params("dynamic_targets"),
        threads: stage_threads("dynamic_targets")
        resources:
            gpu=1,
        conda:
            CONDA_ENV
        script:
            "../scripts/dynamic_targets.py"

    rule dynamic_train:
        input:
            targets=f"{RESULTS}/dynamic/targets",
            brain=DYNAMIC_BRAIN,
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

    def dynamic_video_diffusion_inputs(wildcards):
        """The test clips, the pipeline folder when configured, and the RAFT weights when the flow is RAFT's."""
        inputs = {"videos": DYNAMIC_VIDEOS, "targets": f"{RESULTS}/dynamic/targets"}
        if config["dynamic"]["video_diffusion_model"]:
            inputs["video_diffusion"] = config["dynamic"]["video_diffusion_model"]
        if VIDEO["flow_method"] == "raft":
            inputs["raft"] = VIDEO["raft_weights"]
        return inputs

    rule dynamic_video_diffusion:
        input:
            unpack(dynamic_video_diffusion_inputs),
        output:
            out_dir=directory(f"{RESULTS}/dynamic/video_diffusion"),
        log:
            "logs/dynamic/video_diffusion.log",
        params:
            **stage_params("dynamic_video_diffusion"),
        threads: stage_threads("dynamic_video_diffusion")
        resources:
            gpu=1,
        conda:
            CONDA_ENV
        script:
            "../scripts/dynamic_video_diffusion.py"

    rule dynamic_evaluate:
        input:
            targets=f"{RESULTS}/dynamic/targets",
            video_diffusion=f"{RESULTS}/dynamic/video_diffusion",
            brain=DYNAMIC_BRAIN,
            model=f"{RESULTS}/dynamic/{{subject}}/model",
            videos=DYNAMIC_VIDEOS,
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
            videos=DYNAMIC_VIDEOS,
            targets=f"{RESULTS}/dynamic/targets",
            brain=DYNAMIC_BRAIN,
            video_model=dynamic_model("video"),
            image_model=dynamic_model("image"),
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
            gpu=1,
        conda:
            CONDA_ENV
        script:
            "../scripts/dynamic_encoders.py"

    def dynamic_plot_inputs(wildcards):
        """The evaluation, the clips, and the encoder comparison where the samples hold enough frames."""
        inputs = {"evaluation": f"{RESULTS}/dynamic/{wildcards.subject}/evaluation", "videos": DYNAMIC_VIDEOS}
        if DYNAMIC_ENCODERS:
            inputs["encoders"] = f"{RESULTS}/dynamic/{wildcards.subject}/encoders"
        return inputs

    rule dynamic_plot:
        input:
            unpack(dynamic_plot_inputs),
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
