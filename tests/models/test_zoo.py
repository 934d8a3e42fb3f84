"""The pure-jnp pieces of the model-switch toy (models/zoo.py) against numpy references, and the flat-draw
initializers it uses (models/init.py) against the family's former private copies, bitwise."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import init, zoo

RNG = np.random.default_rng(0)
X = RNG.standard_normal((5, 4)).astype(np.float32)


def _relu(h):
  return np.maximum(h, 0.0)


def test_features_and_teacher_logits():
  h = np.array([-2.0, -0.5, 0.0, 1.5], np.float32)
  np.testing.assert_allclose(zoo.features(h, 0.6), [1.2, 0.3, 0.0, 1.5], rtol=1e-6)
  A, Bm = RNG.standard_normal((4, 3)).astype(np.float32), RNG.standard_normal((3, 2)).astype(np.float32)
  want = (_relu(X @ A) + 0.6 * _relu(-(X @ A))) @ Bm
  np.testing.assert_allclose(zoo.teacher_logits(A, Bm, X, 0.6), want, rtol=1e-5, atol=1e-6)


def test_masked_units_of_the_mlp_are_off():
  p = {
    'w1': RNG.standard_normal((4, 6)).astype(np.float32),
    'b1': RNG.standard_normal(6).astype(np.float32),
    'w2': RNG.standard_normal((6, 3)).astype(np.float32),
    'b2': RNG.standard_normal(3).astype(np.float32),
  }
  mask = np.array([1, 1, 1, 0, 0, 0], np.float32)
  want = _relu(X @ p['w1'][:, :3] + p['b1'][:3]) @ p['w2'][:3] + p['b2']
  np.testing.assert_allclose(zoo.mlp(p, X, mask), want, rtol=1e-5, atol=1e-5)
  lin = {'w': p['w2'][:4], 'b': p['b2']}
  np.testing.assert_allclose(zoo.linear(lin, X), X @ lin['w'] + lin['b'], rtol=1e-5, atol=1e-6)


def test_zoo_logits_and_source_labels_are_every_candidate_at_once():
  Z, W, C = 3, 6, 4
  zp = {
    'w1': RNG.standard_normal((Z, 4, W)).astype(np.float32),
    'b1': RNG.standard_normal((Z, W)).astype(np.float32),
    'w2': RNG.standard_normal((Z, W, C)).astype(np.float32),
    'b2': RNG.standard_normal((Z, C)).astype(np.float32),
  }
  masks = (np.arange(W)[None, :] < np.array([2, 6, 4])[:, None]).astype(np.float32)
  got = np.asarray(zoo.zoo_logits(zp, masks, X))
  assert got.shape == (Z, 5, C)
  for z in range(Z):
    one = {k: v[z] for k, v in zp.items()}
    np.testing.assert_allclose(got[z], zoo.mlp(one, X, masks[z]), rtol=1e-5, atol=1e-5)
  src = {'A': zp['w1'][:, :, :3], 'B': zp['w2'][:, :3, :]}
  labels = np.asarray(zoo.source_labels(src, X, 0.3))
  for z in range(Z):
    want = np.argmax(zoo.teacher_logits(src['A'][z], src['B'][z], X, 0.3), -1)
    np.testing.assert_array_equal(labels[z], want)


def _normal_former(key, shape, std):  # the family's private copy before models/init.py
  return jax.random.normal(key, (math.prod(shape),)).reshape(shape) * std


def _normals_former(key, *shapes):
  sizes = [math.prod(sh) for sh in shapes]
  flat = jax.random.normal(key, (sum(sizes),))
  out, at = [], 0
  for sh, n in zip(shapes, sizes):
    out.append(flat[at : at + n].reshape(sh))
    at += n
  return out


def test_flat_draw_initializers_are_the_former_copies_bitwise():
  key = jax.random.key(3)
  np.testing.assert_array_equal(init.normal(key, (4, 3), 1.0), _normal_former(key, (4, 3), 1.0))
  np.testing.assert_array_equal(init.normal(key, (2, 5), 0.5), _normal_former(key, (2, 5), 0.5))
  shapes = ((4, 3), (3, 2), (2, 4, 3))
  for a, b in zip(init.normals(key, *shapes), _normals_former(key, *shapes)):
    np.testing.assert_array_equal(a, b)


def test_flat_uniform_is_the_shaped_draw_bitwise():
  """init.uniform draws flat for a faster compile; the numbers are jax.random.uniform's of the shape, alone
  and vmapped over keys (as in the runner's programs)."""
  keys = jax.random.split(jax.random.key(4), 3)
  shapes = ((7,), (4, 3), (2, 5, 3))
  np.testing.assert_array_equal(init.uniform(keys[0], (4, 3)), jax.random.uniform(keys[0], (4, 3)))
  flat = jax.jit(jax.vmap(lambda k: [init.uniform(k, s) for s in shapes]))(keys)
  shaped = jax.jit(jax.vmap(lambda k: [jax.random.uniform(k, s) for s in shapes]))(keys)
  for a, b in zip(flat, shaped):
    np.testing.assert_array_equal(a, b)


def test_flat_lecun_normal_is_flax_default_dense_init_bitwise():
  """models.mlp.MLP's kernels (init.lecun_normal, drawn flat) are flax's default Dense kernels bit for bit,
  vmapped over keys as in the runner's init programs."""
  import flax.linen as nn

  from models.mlp import MLP

  class Reference(nn.Module):  # models.mlp.MLP with flax's default kernel initializer
    @nn.compact
    def __call__(self, x):
      x = nn.relu(nn.Dense(7)(x))
      return nn.Dense(5)(x)

  x = jnp.ones((3,))
  keys = jax.random.split(jax.random.key(6), 4)
  ours = jax.jit(jax.vmap(lambda k: MLP(hidden=(7,), out=5).init(k, x)))(keys)
  ref = jax.jit(jax.vmap(lambda k: Reference().init(k, x)))(keys)
  assert jax.tree.structure(ours) == jax.tree.structure(ref)
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(ValueError, match='2-D'):
    init.lecun_normal()(keys[0], (2, 3, 4))
