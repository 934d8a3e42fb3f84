"""Gradient-conflict diagnostics computed inside a training step (Du et al. 2018, "Adapting auxiliary
losses using gradient similarity"; Yu et al. 2020, PCGrad). Pure and vmappable; any family with a primary
and an auxiliary objective can use them.

- ``cosine(a, b)``: cosine of two gradient pytrees (0 when either is all zero).
- ``layer_cosines(a, b, layers)``: the cosine per named group of leaves (a layer's kernel and bias).
- ``init_running`` / ``update_running`` / ``summarize_running``: running sums carried in a run's state, so
  the *fraction of all steps* with a negative cosine and the mean cosine are exact over every step, while
  the per-step values are logged subsampled like every metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax.numpy as jnp
import optax

EPS = 1e-12


def cosine(a, b):
  """Cosine between two pytrees of the same structure; 0 when either has zero norm."""
  dot = optax.tree.vdot(a, b)
  na, nb = optax.tree.norm(a), optax.tree.norm(b)
  return jnp.where((na > 0) & (nb > 0), dot / jnp.maximum(na * nb, EPS), 0.0)


def layer_cosines(a: Mapping, b: Mapping, layers: Mapping[str, Sequence[str]]) -> dict:
  """{name: cosine over the leaves a[k], b[k] for k in layers[name]}."""
  return {name: cosine([a[k] for k in keys], [b[k] for k in keys]) for name, keys in layers.items()}


def conflict(a: Mapping, b: Mapping, layers: Mapping[str, Sequence[str]]) -> dict:
  """Cosine of primary ``a`` and auxiliary ``b`` over all the layers named in ``layers`` ('cos') and
  per layer ('cos_<name>')."""
  shared = [k for keys in layers.values() for k in keys]
  out = {'cos': cosine([a[k] for k in shared], [b[k] for k in shared])}
  out.update({f'cos_{n}': c for n, c in layer_cosines(a, b, layers).items()})
  return out


def init_running(names: Sequence[str] = ('cos',)) -> dict:
  """Zeroed running sums for the cosines ``names``: sum, count of negatives, steps."""
  out = {f'{n}_sum': jnp.float32(0.0) for n in names}
  out.update({f'{n}_neg': jnp.float32(0.0) for n in names})
  out['steps'] = jnp.float32(0.0)
  return out


def update_running(running: Mapping, cosines: Mapping, active=True) -> dict:
  """Adds one step's cosines (only where ``active``)."""
  w = jnp.asarray(active, jnp.float32)
  out = dict(running)
  for key in running:
    if key.endswith('_sum'):
      out[key] = running[key] + w * cosines[key[:-4]]
    elif key.endswith('_neg'):
      out[key] = running[key] + w * (cosines[key[:-4]] < 0)
  out['steps'] = running['steps'] + w
  return out


def summarize_running(running: Mapping) -> dict:
  """{'<name>_mean': mean cosine, '<name>_frac_neg': fraction of steps with cosine < 0}."""
  n = jnp.maximum(running['steps'], 1.0)
  out = {}
  for key in running:
    if key.endswith('_sum'):
      out[f'{key[:-4]}_mean'] = running[key] / n
    elif key.endswith('_neg'):
      out[f'{key[:-4]}_frac_neg'] = running[key] / n
  return out
