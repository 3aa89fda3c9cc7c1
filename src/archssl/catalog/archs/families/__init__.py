"""Built-in architecture families. Each module registers itself in
:data:`archssl.catalog.archs.family.FAMILIES`; a new family is one new module here plus its line below. These
modules never import torch (the nets, under :mod:`archssl.archs.nets`, import them)."""

from archssl.catalog.archs.families import mobilenetv2, resnet, revnet, vgg  # noqa: F401  (registration side effect)
