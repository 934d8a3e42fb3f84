"""A plain Linen MLP: Dense+ReLU hidden layers, a linear head."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from models import init


class MLP(nn.Module):
  """x (..., d_in) -> (..., out). ``hidden`` are the hidden widths; ReLU between layers. Kernels are flax's
  default (lecun normal) drawn flat (``models.init.lecun_normal``: the same numbers, a faster compile)."""

  hidden: Sequence[int]
  out: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for width in self.hidden:
      x = nn.relu(nn.Dense(width, kernel_init=init.lecun_normal())(x))
    return nn.Dense(self.out, kernel_init=init.lecun_normal())(x)
