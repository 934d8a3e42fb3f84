"""Policy-gradient losses."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def reinforce(
  logp_actions: jax.Array, rewards: jax.Array, baseline: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
  """REINFORCE with a baseline: −Σ (r − b)·log π(a), with the advantage held constant.

  logp_actions, rewards, baseline: broadcastable arrays (one entry per sampled action or token);
  ``mask`` (same shape, 0/1) drops entries, e.g. tokens beyond a sequence's length. Sums over entries
  (one episode's tokens each carry their own reward), so a one-action episode is the textbook loss.
  """
  adv = jax.lax.stop_gradient(rewards - baseline)
  terms = adv * logp_actions
  if mask is not None:
    terms = terms * mask
  return -jnp.sum(terms)


def ema(baseline: jax.Array, rewards: jax.Array, decay: float | jax.Array) -> jax.Array:
  """Exponential moving-average baseline update: b ← decay·b + (1 − decay)·r."""
  return decay * baseline + (1.0 - decay) * rewards
