"""The catalog: torch-free descriptors of everything a study can name (SSL methods, probes; their
parameters with defaults, types and ranges), their registries, and the one loader that turns an ``impl``
path into the implementation. Planning (:mod:`archssl.plan`) imports only this layer and the helpers below
it; the implementations (torch) import it too, never the other way round.
"""

from archssl.catalog.loader import load
from archssl.catalog.methods import METHODS, MethodInfo, register_method
from archssl.catalog.probes import PROBES, ProbeInfo, register_probe

__all__ = ["METHODS", "MethodInfo", "PROBES", "ProbeInfo", "load", "register_method", "register_probe"]
