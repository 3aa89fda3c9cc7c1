# Stage 2: one spec file per architecture; its id is derived from its content.


rule arch_spec:
    output:
        f"{RES}/archs/{{arch}}.yaml",
    params:
        spec=per_job(lambda wc: as_arg(PLAN.archs[wc.arch])),
    wildcard_constraints:
        # nas-<search>: written from the search's genotype (nas.smk)
        arch="(?!nas-)[a-z0-9._-]+",
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/arch_spec/{{arch}}.log",
    shell:
        "archssl write --value {params.spec} --out {output} 2> {log}"
