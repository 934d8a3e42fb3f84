"""Parameter initializers that draw their randomness flat.

Why by hand: on the pinned jax (0.10.2, partitionable threefry) every PRNG call and every
multi-dimensional draw adds seconds of XLA compile on CPU, so flax's per-leaf shaped initializers dominate
the compile time of a vmapped init. These give the same distributions as flax's defaults (kernels and
embeddings N(0, 1/fan_in), biases 0, LayerNorm scales 1) from one flat normal draw, reshaped.
Each function is the exact code a family used before it moved here: changing the draw order would change
every run's numbers.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util


def normal(key, shape, std=1.0):
  """N(0, std²) of ``shape`` from one flat draw."""
  return jax.random.normal(key, (math.prod(shape),)).reshape(shape) * std


def uniform(key, shape):
  """U[0, 1) of ``shape`` from one flat draw: bit for bit ``jax.random.uniform(key, shape)`` (partitionable
  threefry numbers the bits in row-major order; tests/models/test_zoo.py checks it), compiled faster on CPU."""
  return jax.random.uniform(key, (math.prod(shape),)).reshape(shape)


def lecun_normal():
  """Flax's default Dense kernel initializer (``jax.nn.initializers.lecun_normal()``: truncated normal on
  (−2, 2), variance 1/fan_in) with the draw made flat: the same numbers bit for bit (the same operations as
  jax's ``variance_scaling`` on a row-major flat draw; tests/models/test_zoo.py checks it), compiled in
  about a third of the time on CPU. For 2-D kernels (fan_in, fan_out)."""

  def init(key, shape, dtype=jnp.float32):
    if len(shape) != 2:
      raise ValueError(f'lecun_normal: a 2-D kernel shape is expected, got {shape}')
    variance = jnp.array(1.0 / shape[0], dtype=dtype)
    stddev = jnp.sqrt(variance) / jnp.array(0.87962566103423978, dtype)
    return jax.random.truncated_normal(key, -2, 2, (math.prod(shape),), dtype).reshape(shape) * stddev

  return init


def normals(key, *shapes):
  """Standard normals of several shapes from ONE flat draw, cut in order (each extra PRNG call costs
  about 0.5 s of compile)."""
  sizes = [math.prod(sh) for sh in shapes]
  flat = jax.random.normal(key, (sum(sizes),))
  out, at = [], 0
  for sh, n in zip(shapes, sizes):
    out.append(flat[at : at + n].reshape(sh))
    at += n
  return out


def fan_in_normal(shapes, key):
  """A params pytree like ``shapes`` (a pytree of ShapeDtypeStruct, e.g. from ``jax.eval_shape`` of a
  Linen init) from ONE flat normal draw over all leaves in tree order: 'bias' leaves 0, 'scale' leaves 1,
  every other leaf (a kernel (fan_in, fan_out) or an embedding (vocab, features)) N(0, 1/shape[0]), as
  flax's Embed default. Every leaf consumes its share of the draw, biases included."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(shapes)
  z = jax.random.normal(key, (sum(int(np.prod(leaf.shape)) for _, leaf in leaves),))
  out, at = [], 0
  for path, leaf in leaves:
    name = str(getattr(path[-1], 'key', path[-1]))
    size = int(np.prod(leaf.shape))
    if name == 'bias':
      out.append(jnp.zeros(leaf.shape, leaf.dtype))
    elif name == 'scale':
      out.append(jnp.ones(leaf.shape, leaf.dtype))
    else:
      out.append((z[at : at + size] / math.sqrt(leaf.shape[0])).reshape(leaf.shape).astype(leaf.dtype))
    at += size
  return jax.tree_util.tree_unflatten(treedef, out)


def fan_in_normal_per_leaf(params_shapes, key):
  """A flax params dict like ``params_shapes`` with one flat draw per leaf, leaf i (in sorted path order)
  drawn from fold_in(key, i): biases 0, embeddings N(0, 1/features), kernels N(0, 1/fan_in)."""
  shapes = traverse_util.flatten_dict(params_shapes)
  out = {}
  for i, (path, s) in enumerate(sorted(shapes.items())):
    if path[-1] == 'bias':
      out[path] = jnp.zeros(s.shape, s.dtype)
      continue
    fan = s.shape[-1] if path[-1] == 'embedding' else s.shape[0]
    draw = jax.random.normal(jax.random.fold_in(key, i), (math.prod(s.shape),), s.dtype)
    out[path] = draw.reshape(s.shape) / math.sqrt(fan)
  return traverse_util.unflatten_dict(out)
