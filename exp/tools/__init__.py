"""Commands around the engine (benchmark)."""
