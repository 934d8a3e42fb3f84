"""Experiment families, one package each (see docs/design.md, "Adding a family")."""
