# Stage 1: datasets. Built-in mini-suite sets are generated here; real sets are read in place from
# data.data_root (or data.roots.<name>) and checked before anything runs.


rule prepare_data:
    output:
        PATHS.dataset_file(),
    log:
        PATHS.log("prepare_data", "{dataset}"),
    conda:
        CONDA_ENV
    params:
        size=config["data"]["image_size"],
        seed=config["data"]["builtin"]["seed"],
        pool_size=config["data"]["builtin"]["pool_size"],
    shell:
        "archssl data prepare {wildcards.dataset} --out {output} --image-size {params.size} "
        "--seed {params.seed} --pool-size {params.pool_size} 2> {log}"


rule check_data:
    output:
        PATHS.dataset_checked(),
    log:
        PATHS.log("check_data", "{dataset}"),
    conda:
        CONDA_ENV
    params:
        root=lambda wc: R.real_sets[wc.dataset].root,
        size=config["data"]["image_size"],
    shell:
        "archssl data check --deep --image-size {params.size} --root {wildcards.dataset}={params.root} "
        "{wildcards.dataset} > {output} 2> {log}"
