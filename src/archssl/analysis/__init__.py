"""Analysis: tidy tables, correlations across architectures, and the figures of the report."""
