"""PyTorch modules of the architecture families (imported lazily by ``Family.build``)."""
