"""PyTorch modules of the architecture families (each family's ``builder`` path names one of their
``build_*`` functions; :func:`archssl.archs.build` loads it)."""
