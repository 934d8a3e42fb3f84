"""Sequence losses for causal LMs: the correct next-token CE and the source's unshifted (buggy) form.

Shapes: logits (batch, T, vocab) float; tokens (batch, T) int; mask (batch, T), indexed by the
*target* token position (mask[:, t] = 1 means "token t counts as a target").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _masked_mean(values, mask):
  if mask is None:
    return jnp.mean(values)
  mask = mask.astype(values.dtype)
  return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def next_token_ce(
  logits: jax.Array, tokens: jax.Array, mask: jax.Array | None = None, shift: bool = True
) -> jax.Array:
  """Mean cross-entropy over counted target positions.

  shift=True (correct): logits[:, t] predict tokens[:, t + 1]; targets are tokens 1..T−1 and
    mask[:, 1:] selects which count.
  shift=False (the source's BUG, kept for the audit of docs/families/distillation.md): logits[:, t] are trained
    against tokens[:, t] itself — the input already contains the target, so this is a copy task,
    minimised by predicting the current token; mask[:, :] selects the targets.

  Returns a scalar: sum(ce · mask) / max(sum(mask), 1) (plain mean when mask is None).
  """
  logits = logits.astype(jnp.float32)
  if shift:
    logits, targets = logits[:, :-1], tokens[:, 1:]
    mask = None if mask is None else mask[:, 1:]
  else:
    targets = tokens
  logp = jax.nn.log_softmax(logits, axis=-1)
  ce = -jnp.take_along_axis(logp, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
  return _masked_mean(ce, mask)


def unshifted_copy_ce_buggy(logits: jax.Array, tokens: jax.Array, mask: jax.Array | None = None) -> jax.Array:
  """The source's BUGGY SFT loss: ``next_token_ce(..., shift=False)`` — a copy task, not LM training."""
  return next_token_ce(logits, tokens, mask, shift=False)


SFT_LOSSES = {'shifted': next_token_ce, 'unshifted_buggy': unshifted_copy_ce_buggy}
