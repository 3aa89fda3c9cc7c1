"""SSL methods: the implementations (torch), one module per method. Their descriptors (parameters, defaults,
pretext metric) are in :mod:`archssl.catalog.methods`, which builds them: ``METHODS.get("simclr")(backbone,
params)``. :class:`archssl.methods.base.SSLMethod` is the contract with the training loop.
"""
