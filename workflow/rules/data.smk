# Stage 1: datasets. Built-in mini-suite sets are generated here; real sets are read in place from
# data.data_root (or data.roots.<name>) and checked before anything runs.
from archssl.data.check import check_datasets, format_report, resolve_root

REAL_SETS = [d for d in dict.fromkeys([PRETRAIN_SET, *DOWNSTREAM]) if not get_dataset(d).builtin]


def check_real_datasets():
    """Every configured on-disk dataset must be in place before any job is scheduled; a dry run only warns,
    so `snakemake -n` builds the DAG without the data."""
    if not REAL_SETS:
        return
    root = config["data"]["data_root"]
    if root is None and not all(d in config["data"]["roots"] for d in REAL_SETS):
        problems = f"config key 'data.data_root' is not set, and {', '.join(REAL_SETS)} are read from disk"
    else:
        found = check_datasets(REAL_SETS, root or ".", config["data"]["roots"])
        problems = format_report(found) if found else ""
    if problems:
        if workflow.dryrun:
            print(f"archssl: warning (dry run): datasets not in place:\n{problems}", file=sys.stderr)
        else:
            raise WorkflowError(f"datasets not in place; nothing was run:\n{problems}")


check_real_datasets()


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


rule check_data:
    output:
        f"{BUILTIN_ROOT}/checked/{{dataset}}.txt",
    params:
        root=lambda wc: resolve_root(wc.dataset, config["data"]["data_root"] or ".", config["data"]["roots"]),
        size=config["data"]["image_size"],
    log:
        f"{LOGS}/check_data/{{dataset}}.log",
    shell:
        "archssl data check --deep --image-size {params.size} --root {wildcards.dataset}={params.root} "
        "{wildcards.dataset} > {output} 2> {log}"
