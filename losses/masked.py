"""Masked token cross-entropy for next-token models whose labels are already aligned with the logits.

Shapes: logits (batch, T, vocab) float; labels (batch, T) int; mask (batch, T) bool or 0/1, 1 where the
label counts (e.g. only the closing tokens + EOS of a Dyck-2 completion, exp/tasks/dyck.py).
Unlike ``losses.sequence.next_token_ce`` nothing is shifted here: the caller's batch already pairs
logits[:, t] with labels[:, t].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def masked_softmax_ce(logits: jax.Array, labels: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy over the counted positions: sum(ce · mask) / max(sum(mask), 1).

  A mask with no counted position gives 0 (not NaN). The mask is used as given (a bool mask is promoted
  by the multiplication), so the result's dtype is that of the logits.
  """
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  return jnp.sum(ce * mask) / jnp.maximum(mask.sum(), 1)
