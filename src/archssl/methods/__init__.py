"""SSL methods, one module each, behind the :data:`METHODS` registry."""

from archssl.methods.base import METHODS, SSLMethod
from archssl.methods import random_init, simclr  # noqa: F401  (register)

__all__ = ["METHODS", "SSLMethod"]
