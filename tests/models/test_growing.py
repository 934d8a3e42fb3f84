"""models/growing.py: function-preserving growth, frozen full masks = a plain MLP, pruning, RigL rewiring,
ranks, masked gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import growing

D, H, C, A = 5, 10, 3, 2


def _net(width=6, density=0.8, seed=0):
  return growing.init(jax.random.key(seed), D, H, C, A, width, density)


def _x(n=16, seed=1):
  return jax.random.normal(jax.random.key(seed), (n, D))


def test_inactive_entries_are_exactly_zero_at_init():
  p, m = _net()
  assert np.asarray(m['unit']).tolist() == [1.0] * 6 + [0.0] * 4
  assert not np.asarray(p['w1'])[:, 6:].any() and not np.asarray(p['w2'])[6:].any()
  assert not np.asarray(p['w1'] * (1 - m['conn'])).any()


def test_frozen_full_masks_equal_a_plain_mlp():
  p, m = _net(width=H, density=1.0)
  assert float(m['conn'].min()) == 1.0
  logits, _, _ = growing.apply(growing.effective(p, m), _x())
  np.testing.assert_array_equal(np.asarray(logits), np.asarray(growing.plain_forward(p, _x())))


def test_growth_preserves_the_function_and_breaks_symmetry():
  p, m = _net()
  x = _x()
  eff = growing.effective(p, m)
  before, aux_before, h = growing.apply(eff, x)
  sal = growing.saliency(eff, h)
  noise = 0.05 * jax.random.normal(jax.random.key(2), (H, C + A))
  p2, m2, new = growing.grow(p, m, sal, 3, noise)
  after, aux_after, h2 = growing.apply(growing.effective(p2, m2), x)
  np.testing.assert_allclose(np.asarray(after), np.asarray(before), atol=1e-5)
  np.testing.assert_allclose(np.asarray(aux_after), np.asarray(aux_before), atol=1e-5)
  assert int(new.sum()) == 3 and float(m2['unit'].sum()) == 9.0
  j = int(np.flatnonzero(np.asarray(new))[0])
  src = int(np.argmax(np.asarray(sal)))  # the most salient unit is copied into the lowest free slot
  assert j == 6
  np.testing.assert_array_equal(np.asarray(p2['w1'][:, j]), np.asarray(p['w1'][:, src]))
  np.testing.assert_allclose(np.asarray(h2[:, j]), np.asarray(h2[:, src]))  # same activation ...
  assert not np.allclose(np.asarray(p2['w2'][j]), np.asarray(p2['w2'][src]))  # ... different outgoing
  np.testing.assert_allclose(np.asarray(p2['w2'][j] + p2['w2'][src]), np.asarray(p['w2'][src]), atol=1e-6)


def test_growth_stops_at_the_maximum_width():
  p, m = _net(width=H - 1)
  eff = growing.effective(p, m)
  sal = growing.saliency(eff, growing.apply(eff, _x())[2])
  _, m2, new = growing.grow(p, m, sal, 4, jnp.zeros((H, C + A)))
  assert int(new.sum()) == 1 and float(m2['unit'].sum()) == H


def test_prune_switches_off_the_least_salient_units_and_keeps_min_width():
  p, m = _net()
  sal = jnp.array([5.0, 1.0, 4.0, 0.5, 3.0, 2.0, 0, 0, 0, 0])
  p2, m2, off = growing.prune(p, m, sal, 2, 3)
  assert np.flatnonzero(np.asarray(off)).tolist() == [1, 3]
  assert not np.asarray(p2['w1'])[:, [1, 3]].any() and not np.asarray(p2['w2'])[[1, 3]].any()
  _, m3, off3 = growing.prune(p, m, sal, 5, 4)  # only 6 − 4 = 2 may go
  assert int(off3.sum()) == 2 and float(m3['unit'].sum()) == 4.0


def test_rewire_drops_smallest_and_grows_largest_gradient():
  p, m = _net(width=H, density=0.5)
  grad = jax.random.normal(jax.random.key(5), (D, H))
  p2, m2, n = growing.rewire(p, m, grad, 0.25)
  active = np.asarray(m['conn']) > 0
  n = int(n)
  assert n == int(np.floor(0.25 * active.sum())) and n > 0
  assert float(m2['conn'].sum()) == float(m['conn'].sum())  # as many grown as dropped
  w = np.abs(np.asarray(p['w1']))[active]
  dropped = active & (np.asarray(m2['conn']) == 0)
  assert dropped.sum() == n and np.abs(np.asarray(p['w1']))[dropped].max() <= np.sort(w)[n - 1]
  grown = ~active & (np.asarray(m2['conn']) > 0)
  g = np.abs(np.asarray(grad))[~active]
  assert grown.sum() == n and np.abs(np.asarray(grad))[grown].min() >= np.sort(g)[-n]
  assert not np.asarray(p2['w1'])[grown].any()  # new connections start at 0


def test_rank_matches_numpy():
  s = jnp.array([0.3, 2.0, -1.0, 2.0, 0.1])
  valid = jnp.array([1.0, 1.0, 1.0, 1.0, 0.0])
  assert np.asarray(growing.rank(s, valid)).tolist() == [2, 0, 3, 1, 4]


def test_masked_gradients_are_zero_on_masked_entries():
  p, m = _net(density=0.5)
  x = _x()

  def loss(e):
    return jnp.sum(growing.apply(e, x)[0] ** 2)

  dense = jax.grad(loss)(growing.effective(p, m))
  g = growing.masked_grads(dense, m)
  pm = growing.param_masks(m)
  for k in growing.PARAM_NAMES:
    assert not np.asarray(g[k] * (1 - pm[k])).any()
  assert np.asarray(dense['w1'] * (1 - m['conn']) * m['unit']).any()  # the dense gradient is not masked


@pytest.mark.parametrize('t, expected', [(0, 0.3), (50, 0.15), (100, 0.0)])
def test_drop_fraction_cosine_schedule(t, expected):
  assert float(growing.drop_fraction(t, 0.3, 100)) == pytest.approx(expected, abs=1e-6)
