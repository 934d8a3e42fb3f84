"""Sequence discriminators (real vs generated) for adversarial text generation (docs/families/degeneration.md).

Both take ``tokens`` (batch, L) int32 and ``mask`` (batch, L), 1 at the tokens that count, and return
one logit per sequence (batch,) — positive = "real".

- ``MeanEmbedDiscriminator`` is **order-blind**: an MLP of the masked mean of the token embeddings, so
  any permutation of a sequence gets the same logit; it sees token frequencies, never order.
- ``PositionalDiscriminator`` is **order-aware**: an MLP of the concatenated embeddings of all L
  positions (masked positions zeroed, plus a learned per-position embedding), so it can see what follows
  what — and a loop.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class MeanEmbedDiscriminator(nn.Module):
  """logit = MLP(mean of embeddings over the masked tokens); invariant to the order of the tokens."""

  vocab: int
  embed: int
  hidden: int

  @nn.compact
  def __call__(self, tokens: jax.Array, mask: jax.Array) -> jax.Array:
    m = mask.astype(jnp.float32)[..., None]
    e = nn.Embed(self.vocab, self.embed, name='embed')(tokens)
    mean = jnp.sum(e * m, axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1.0)
    h = nn.gelu(nn.Dense(self.hidden, name='hidden')(mean))
    return nn.Dense(1, name='out')(h)[:, 0]


class PositionalDiscriminator(nn.Module):
  """logit = MLP(concatenated per-position embeddings + position embeddings, masked); sees order."""

  vocab: int
  embed: int
  hidden: int
  max_len: int

  @nn.compact
  def __call__(self, tokens: jax.Array, mask: jax.Array) -> jax.Array:
    B, L = tokens.shape
    m = mask.astype(jnp.float32)[..., None]
    pos = self.param('pos_embed', nn.initializers.normal(0.02), (self.max_len, self.embed))
    e = (nn.Embed(self.vocab, self.embed, name='embed')(tokens) + pos[None, :L]) * m
    h = nn.gelu(nn.Dense(self.hidden, name='hidden')(e.reshape(B, L * self.embed)))
    return nn.Dense(1, name='out')(h)[:, 0]
