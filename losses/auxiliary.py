"""Auxiliary objectives trained beside a primary classification loss, and PCGrad (self-modifying family,
docs/families/self_modifying.md). All pure; logits (n, classes).

- ``entropy``: mean Shannon entropy of the predictions (nats); added with a positive coefficient it is
  entropy minimization (Grandvalet & Bengio 2005), a "direct entropy constraint" on the predictions.
- ``aux_head_ce``: cross-entropy of an auxiliary head on its own labels (an auxiliary task sharing the trunk).
- ``pseudo_label_ce``: cross-entropy against the model's own argmax (synthetic labels; the targets carry no
  gradient).
- ``pcgrad``: PCGrad (Yu et al., NeurIPS 2020) for a primary/auxiliary pair: when the two gradients
  conflict (negative dot product) the auxiliary gradient is projected onto the normal plane of the primary
  one. optax 0.2.8 has no PCGrad, hence by hand.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def entropy(logits):
  """Mean over examples of H(softmax(logits)) in nats."""
  logp = jax.nn.log_softmax(logits)
  return -jnp.mean(jnp.sum(jnp.exp(logp) * logp, axis=-1))


def aux_head_ce(aux_logits, aux_labels):
  """Mean softmax cross-entropy of the auxiliary head."""
  return optax.softmax_cross_entropy_with_integer_labels(aux_logits, aux_labels).mean()


def pseudo_label_ce(logits):
  """Mean cross-entropy against the model's own argmax (stop-gradient targets)."""
  targets = jax.lax.stop_gradient(jnp.argmax(logits, axis=-1))
  return optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()


def pcgrad(g_primary, g_aux, eps: float = 1e-12):
  """PCGrad of the auxiliary gradient against the primary one (pytrees of the same structure).

  Returns (projected auxiliary gradient, dot product before projection): g_aux − (g·p / ‖p‖²)·p when
  g·p < 0, else g_aux unchanged.
  """
  dot = optax.tree.vdot(g_primary, g_aux)
  sq = optax.tree.vdot(g_primary, g_primary)
  coef = jnp.where(dot < 0, dot / jnp.maximum(sq, eps), 0.0)
  return jax.tree.map(lambda a, p: a - coef * p, g_aux, g_primary), dot
