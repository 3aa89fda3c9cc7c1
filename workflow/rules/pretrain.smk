# Stage 3: SSL pretraining, one job per (method, architecture); resumable from its checkpoint.


def pretrain_params(method):
    p = config["pretrain"]
    mp = p["method_params"].get(method, {})
    if not METHODS.get(method).trains:
        # an untrained baseline depends only on the spec and the seed
        return {"seed": config["seed"], "method_params": mp}
    keep = ("epochs", "batch_size", "optimizer", "warmup_epochs", "final_lr", "cosine", "augment",
            "checkpoint_every", "device", "num_workers")
    return {**{k: p[k] for k in keep}, "seed": config["seed"], "image_size": config["data"]["image_size"],
            "method_params": mp, "dataset": PRETRAIN_SET, "split": config["data"]["pretrain_split"],
            "data": {**DATA_LOCATIONS, "options": config["data"]["options"]}}


rule pretrain:
    input:
        spec=f"{RES}/archs/{{arch}}.yaml",
        data=lambda wc: dataset_input(PRETRAIN_SET) if METHODS.get(wc.method).trains else [],
    output:
        backbone=f"{RES}/pretrain/{{method}}/{{arch}}/backbone.pt",
        metrics=f"{RES}/pretrain/{{method}}/{{arch}}/metrics.csv",
    params:
        args=lambda wc: as_arg(pretrain_params(wc.method)),
        out_dir=lambda wc, output: str(Path(output.backbone).parent),
    threads: threads_for("pretrain")
    resources:
        **slurm_resources("pretrain"),
    log:
        f"{LOGS}/pretrain/{{method}}/{{arch}}.log",
    shell:
        "archssl pretrain --spec {input.spec} --method {wildcards.method} --params {params.args} "
        "--out-dir {params.out_dir} --threads {threads} 2> {log}"
