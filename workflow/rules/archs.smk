# Stage 2: one spec file per architecture; its id is derived from its content.


rule arch_spec:
    output:
        PATHS.arch_spec(),
    log:
        PATHS.log("arch_spec", "{arch}"),
    wildcard_constraints:
        # nas-<search>: written from the search's genotype (nas.smk)
        arch="(?!nas-)[a-z0-9._-]+",
    conda:
        CONDA_ENV
    params:
        spec=per_job(lambda wc: as_arg(PLAN.archs[wc.arch])),
    shell:
        "archssl write --value {params.spec} --out {output} 2> {log}"
