# Stage 1: datasets. Built-in mini-suite sets are generated here; real sets are read in place.


rule prepare_data:
    output:
        f"{BUILTIN_ROOT}/{{dataset}}/images.h5",
    params:
        size=config["data"]["image_size"],
        seed=config["data"]["builtin"]["seed"],
        pool_size=config["data"]["builtin"]["pool_size"],
    log:
        f"{LOGS}/prepare_data/{{dataset}}.log",
    shell:
        "archssl data prepare {wildcards.dataset} --out {output} --image-size {params.size} "
        "--seed {params.seed} --pool-size {params.pool_size} 2> {log}"
