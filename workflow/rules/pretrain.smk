# Stage 3: SSL pretraining, one job per (method, architecture); resumable from its checkpoint.


rule pretrain:
    input:
        spec=f"{RES}/archs/{{arch}}.yaml",
        data=pretrain_input,
    output:
        backbone=f"{RES}/pretrain/{{method}}/{{arch}}/backbone.pt",
        metrics=f"{RES}/pretrain/{{method}}/{{arch}}/metrics.csv",
    params:
        args=lambda wc: as_arg(pretrain_params(wc.method)),
        # the registered method ({method} may name a variant of it)
        method=lambda wc: RUNS[wc.method].method,
        out_dir=lambda wc, output: str(Path(output.backbone).parent),
    threads: threads_for("pretrain")
    resources:
        **slurm_resources("pretrain"),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/pretrain/{{method}}/{{arch}}.log",
    shell:
        "archssl pretrain --spec {input.spec} --method {params.method} --params {params.args} "
        "--out-dir {params.out_dir} --threads {threads} 2> {log}"
