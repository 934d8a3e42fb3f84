"""exp/metrics/conflict.py: gradient cosines (overall, per layer) and the running sums, by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from exp.metrics import conflict

LAYERS = {'l1': ('w1',), 'l2': ('w2',)}


def test_cosines_by_hand():
  a = {'w1': jnp.array([1.0, 0.0]), 'w2': jnp.array([0.0, 2.0])}
  b = {'w1': jnp.array([-1.0, 0.0]), 'w2': jnp.array([0.0, 1.0])}
  c = conflict.conflict(a, b, LAYERS)
  # overall: a·b = −1 + 2 = 1, |a| = √5, |b| = √2
  assert float(c['cos']) == pytest.approx(1 / np.sqrt(10), rel=1e-6)
  assert float(c['cos_l1']) == pytest.approx(-1.0) and float(c['cos_l2']) == pytest.approx(1.0)


def test_zero_gradient_gives_zero_cosine():
  a = {'w1': jnp.array([1.0]), 'w2': jnp.array([1.0])}
  z = jax.tree.map(jnp.zeros_like, a)
  assert float(conflict.cosine(a, z)) == 0.0


def test_running_mean_and_fraction_negative():
  r = conflict.init_running(('cos',))
  for v in (-0.5, 0.2, -0.1, 0.4):
    r = conflict.update_running(r, {'cos': jnp.float32(v)})
  r = conflict.update_running(r, {'cos': jnp.float32(-9.0)}, active=False)  # not counted
  s = conflict.summarize_running(r)
  assert float(s['cos_mean']) == pytest.approx(0.0, abs=1e-7)
  assert float(s['cos_frac_neg']) == pytest.approx(0.5)


def test_vmaps():
  a = {'w1': jnp.ones((3, 2)), 'w2': jnp.ones((3, 2))}
  b = {'w1': -jnp.ones((3, 2)), 'w2': jnp.ones((3, 2))}
  c = jax.vmap(lambda x, y: conflict.conflict(x, y, LAYERS))(a, b)
  np.testing.assert_allclose(np.asarray(c['cos']), 0.0, atol=1e-7)
  np.testing.assert_allclose(np.asarray(c['cos_l1']), -1.0, rtol=1e-6)
