"""archssl: Snakemake workflows for studying how network architecture interacts with self-supervised learning."""

__version__ = "0.1.0"
