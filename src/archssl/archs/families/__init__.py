"""Built-in architecture families. Each module registers itself in :data:`archssl.archs.family.FAMILIES`;
a new family is one new module here plus its line below. These modules must not import torch at top level."""

from archssl.archs.families import mobilenetv2, resnet, revnet, vgg  # noqa: F401  (registration side effect)
