"""Evaluation: frozen features to HDF5 and the probes that score them."""
