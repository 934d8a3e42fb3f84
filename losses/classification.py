"""Classification losses and metrics on integer labels (optax's softmax cross-entropy)."""

from __future__ import annotations

import jax.numpy as jnp
import optax


def cross_entropy(logits, labels):
  """Mean softmax cross-entropy over all examples. logits (..., classes), integer labels (...)."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def cross_entropy_per_candidate(logits, labels):
  """Mean softmax cross-entropy over the last example axis only: logits (Z, n, classes), labels (Z, n) ->
  (Z,), one loss per stacked candidate."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(axis=-1)


def accuracy(logits, labels):
  """Fraction of examples whose argmax logit is the label."""
  return jnp.mean(jnp.argmax(logits, -1) == labels)
