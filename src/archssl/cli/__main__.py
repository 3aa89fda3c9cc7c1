"""``python -m archssl.cli`` (what torchrun starts: one process per GPU) is the ``archssl`` command."""

from archssl.cli import main

main()
