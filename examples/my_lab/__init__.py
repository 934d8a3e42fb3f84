"""A researcher's own lab, outside tenfold (docs/tutorial.md): run by dotted path with examples/ on PYTHONPATH."""
