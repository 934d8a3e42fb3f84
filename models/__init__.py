"""Flax Linen modules (pure init/apply) used by the experiment families."""
