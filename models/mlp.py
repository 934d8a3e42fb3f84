"""A plain Linen MLP: Dense+ReLU hidden layers, a linear head."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax


class MLP(nn.Module):
  """x (..., d_in) -> (..., out). ``hidden`` are the hidden widths; ReLU between layers."""

  hidden: Sequence[int]
  out: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.out)(x)
