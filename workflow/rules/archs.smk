# Stage 2: one spec file per architecture; its id is derived from its content.


rule arch_spec:
    output:
        f"{RES}/archs/{{arch}}.yaml",
    params:
        spec=lambda wc: ARCH_SPECS[wc.arch],
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/arch_spec/{{arch}}.log",
    run:
        import yaml

        from archssl.utils import atomic_path

        with atomic_path(output[0]) as tmp:
            tmp.write_text(yaml.safe_dump(params.spec, sort_keys=True))
