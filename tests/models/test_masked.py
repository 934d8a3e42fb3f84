"""Width-masked GRU LM (models/masked.py): masking is exact, counts are true, sizes share one program.

Everything that needs XLA is computed by one jitted function (module fixture): compiles dominate the
runtime on a loaded 2-core machine.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import masked

V, H = 7, 12
WIDTHS = (1, 5)
TOK = jnp.asarray(np.random.default_rng(1).integers(0, V, (3, 9)), jnp.int32)


def _noise(shapes):
  """Host-side noise for every entry (inactive ones too) so the masking is really exercised."""
  rng = np.random.default_rng(5)
  return jax.tree.map(lambda s: 0.5 * rng.standard_normal(s.shape[1:], np.float32), shapes)


@pytest.fixture(scope='module')
def res():
  model = masked.MaskedGRULM(V, H)
  tok_changed = TOK.at[:, 5:].set(0)

  init = jax.vmap(lambda k, w: model.init(k, TOK, w)['params'])
  keys, init_widths = jax.random.split(jax.random.key(0), 2), jnp.array([4, 3])

  @jax.jit
  def compute(keys, noise):
    # two seeds x two widths in one vmapped init; seed 0 (width 4) + noise is the reference below
    inits = init(keys, init_widths)
    p = jax.tree.map(lambda x, n: x[0] + n, inits, noise)
    # all sizes (and a causality probe) in one vmapped apply of the max-width model
    widths = jnp.array(WIDTHS + (6, 6))
    toks = jnp.stack([TOK] * (len(WIDTHS) + 1) + [tok_changed])
    ys = jax.vmap(lambda w, t: model.apply({'params': p}, t, w))(widths, toks)
    small = [masked.MaskedGRULM(V, w).apply({'params': masked.slice_params(p, w)}, TOK) for w in WIDTHS]
    grad4 = jax.grad(lambda q: model.apply({'params': q}, TOK, 4).sum())(p)
    return dict(inits=inits, ys=ys, small=small, grad4=grad4)

  return jax.tree.map(np.asarray, compute(keys, _noise(jax.eval_shape(init, keys, init_widths))))


def test_masked_equals_sliced_smaller_model(res):
  assert res['ys'].shape == (len(WIDTHS) + 2, 3, 9, V)
  for i in range(len(WIDTHS)):
    np.testing.assert_allclose(res['ys'][i], res['small'][i], rtol=1e-5, atol=1e-6)
  assert not np.allclose(res['ys'][0], res['ys'][1], atol=1e-3)


def test_init_and_gradients_respect_mask(res):
  p, g = jax.tree.map(lambda x: x[0], res['inits']), res['grad4']
  assert not np.any(p['w_h'][4:]) and not np.any(p['w_h'][..., 4:]) and not np.any(p['w_o'][4:])
  assert not np.any(p['w_i'][..., 4:]) and np.any(p['w_h'][:4, :, :4])
  assert not np.any(res['inits']['w_h'][1][3:]) and np.any(res['inits']['w_h'][1][:3, :, :3])  # width 3
  assert not np.any(g['w_h'][4:]) and not np.any(g['w_h'][..., 4:])
  assert not np.any(g['w_i'][..., 4:]) and not np.any(g['w_o'][4:]) and not np.any(g['b_hn'][4:])
  assert np.any(g['w_h'][:4, :, :4])


def test_causal(res):
  y, y_changed = res['ys'][-2], res['ys'][-1]  # width 6; tokens 5.. changed
  np.testing.assert_array_equal(y[:, :5], y_changed[:, :5])  # no peeking at later tokens
  assert not np.array_equal(y[:, 5:], y_changed[:, 5:])


def test_active_params_true_and_monotone():
  for w in (1, 3, 8):
    shapes = jax.eval_shape(lambda k: masked.MaskedGRULM(V, w).init(k, TOK)['params'], jax.random.key(0))
    assert masked.active_params(w, V) == sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes))
  counts = masked.active_params(np.arange(1, 65), V)
  assert np.all(np.diff(counts) > 0) and counts[0] == 42 and counts[-1] == 14343
