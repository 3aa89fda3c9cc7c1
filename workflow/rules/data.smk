# Stage 1: datasets. Built-in mini-suite sets are generated here; real sets are read in place from
# data.data_root (or data.roots.<name>) and checked before anything runs.


rule prepare_data:
    output:
        f"{RES}/data/{{dataset}}/images.h5",
    params:
        size=config["data"]["image_size"],
        seed=config["data"]["builtin"]["seed"],
        pool_size=config["data"]["builtin"]["pool_size"],
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/prepare_data/{{dataset}}.log",
    shell:
        "archssl data prepare {wildcards.dataset} --out {output} --image-size {params.size} "
        "--seed {params.seed} --pool-size {params.pool_size} 2> {log}"


rule check_data:
    output:
        f"{RES}/data/checked/{{dataset}}.txt",
    params:
        root=lambda wc: REAL_SETS[wc.dataset].root,
        size=config["data"]["image_size"],
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/check_data/{{dataset}}.log",
    shell:
        "archssl data check --deep --image-size {params.size} --root {wildcards.dataset}={params.root} "
        "{wildcards.dataset} > {output} 2> {log}"
