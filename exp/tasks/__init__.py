"""Synthetic tasks with exact evaluators, shared by families."""
