"""LoRA adapters (models/lora.py) and the lookup toy + collapse detector (exp/tasks/lookup.py).

Compiles dominate the runtime on a loaded 2-core machine, so checks that need XLA are grouped into few
jitted programs, and test noise comes from numpy on the host.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from exp.tasks import lookup
from models import lora

MODEL = lora.LookupMLP(vocab=5, num_inputs=4, embed_dim=4, hidden=(16, 16), num_outputs=8)
X = jnp.asarray(np.random.default_rng(7).integers(0, 5, (6, 4)), jnp.int32)


def _base(seed=0):
  return MODEL.init(jax.random.key(seed), X)['params']


def _perturbed(lp, scale=0.3, seed=99):
  """Nonzero b (and shifted a) so the adapter actually changes the model. Host-side noise: no compiles."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda x: x + scale * rng.standard_normal(x.shape, np.float32), lp)


def _equal_trees(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _slice(lp, r):
  return {k: {'a': v['a'][:, :r], 'b': v['b'][:r]} for k, v in lp.items()}


def test_shapes_and_init_equals_base():
  base = _base()
  lp = lora.init_lora(jax.random.key(1), base, 8)
  assert lora.lora_layer_dims(base) == ((16, 16), (16, 16), (16, 8))
  assert jax.tree.map(jnp.shape, lp) == {
    'Dense_0': {'a': (16, 8), 'b': (8, 16)},
    'Dense_1': {'a': (16, 8), 'b': (8, 16)},
    'Dense_2': {'a': (16, 8), 'b': (8, 8)},
  }
  np.testing.assert_allclose(np.std(lp['Dense_1']['a']), 1 / 4, rtol=0.2)  # N(0, 1/fan_in)
  assert not np.any(lp['Dense_1']['b'])
  y0 = MODEL.apply({'params': base}, X)
  assert np.array_equal(y0, lora.apply_lora(base, lp, X, 4, 8.0, model=MODEL))  # exact at init
  assert _equal_trees(lora.merge(base, lp, 4, 8.0), base)


@pytest.mark.parametrize('rslora', [False, True])
def test_merged_equals_unmerged(rslora):
  base = _base()
  lp = _perturbed(lora.init_lora(jax.random.key(1), base, 8))
  y = lora.apply_lora(base, lp, X, 5, 10.0, rslora, model=MODEL)
  ym = MODEL.apply({'params': lora.merge(base, lp, 5, 10.0, rslora)}, X)
  assert not np.allclose(y, MODEL.apply({'params': base}, X), atol=1e-3)
  np.testing.assert_allclose(y, ym, rtol=1e-5, atol=1e-5)
  s = lora.lora_scale(5, 10.0, rslora)
  np.testing.assert_allclose(s, 10.0 / (math.sqrt(5) if rslora else 5), rtol=1e-6)


def test_training_moves_only_lora_and_active_ranks():
  base = _base()
  base_copy = jax.tree.map(np.array, base)
  lp = lora.init_lora(jax.random.key(1), base, 8)
  y = jnp.arange(6) % 8
  tx = optax.adam(1e-2)

  def loss(b, l):
    logits = lora.apply_lora(b, l, X, 3, 6.0, model=MODEL)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  @jax.jit
  def step(b, l, s):
    gb, g = jax.grad(loss, argnums=(0, 1))(b, l)
    u, s = tx.update(g, s, l)
    return optax.apply_updates(l, u), s, gb

  l, s = lp, tx.init(lp)
  for _ in range(3):
    l, s, gb = step(base, l, s)
  assert _equal_trees(base, base_copy)  # base bitwise unchanged
  assert all(not np.any(x) for x in jax.tree.leaves(gb))  # stop_gradient: base gets exactly 0
  assert not np.array_equal(l['Dense_0']['b'], lp['Dense_0']['b'])  # the adapter learned
  for name in l:  # masked rank columns never move
    assert np.array_equal(l[name]['a'][:, 3:], lp[name]['a'][:, 3:])
    assert np.array_equal(l[name]['b'][3:], lp[name]['b'][3:])


def test_rank_mask_and_seed_axis_in_one_program():
  """Seeds stacked on a leading axis with rank as a traced per-run value: run 0 has rank 4 inside a
  max-rank-16 adapter and equals a genuine rank-4 adapter; run 1 (rank 16) equals itself run alone."""
  bases = [_base(s) for s in range(2)]
  keys = jax.random.split(jax.random.key(3), 2)
  noise = [
    _perturbed(jax.tree.map(jnp.zeros_like, lora.init_lora(keys[0], bases[0], 16)), seed=s) for s in range(2)
  ]
  stack = lambda ts: jax.tree.map(lambda *x: jnp.stack(x), *ts)

  @jax.jit
  def run(bases, keys, noise, ranks):
    def one(b, k, n, r):
      lp = jax.tree.map(jnp.add, lora.init_lora(k, b, 16), n)
      return lp, lora.apply_lora(b, lp, X, r, 2.0 * r, model=MODEL)

    return jax.vmap(one)(bases, keys, noise, ranks)

  lps, ys = run(stack(bases), keys, stack(noise), jnp.array([4, 16]))
  lp0, lp1 = (jax.tree.map(lambda x, i=i: x[i], lps) for i in range(2))
  # the vmapped init equals init alone, and is slice-consistent in max_rank
  alone = _perturbed(lora.init_lora(keys[1], bases[1], 16), seed=1)  # (fused vs eager: 1-ulp differences)
  for a, b in zip(jax.tree.leaves(lp1), jax.tree.leaves(alone)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert _equal_trees(_slice(lora.init_lora(keys[0], bases[0], 16), 4), lora.init_lora(keys[0], bases[0], 4))
  # rank masking is exact: rank 4 of a max-16 adapter == a genuine rank-4 adapter (sliced params)
  y_small = lora.apply_lora(bases[0], _slice(lp0, 4), X, 4, 8.0, model=MODEL)
  np.testing.assert_allclose(ys[0], y_small, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
    ys[1], lora.apply_lora(bases[1], lp1, X, 16, 32.0, model=MODEL), rtol=1e-5, atol=1e-6
  )
  assert not np.allclose(ys[0], lora.apply_lora(bases[0], lp0, X, 16, 8.0, model=MODEL), atol=1e-3)


def test_check_lora_args():
  dims = ((64, 128), (128, 128), (128, 32))
  lora.check_lora_args(32, 64.0, dims)
  lora.check_lora_args([8, 32], [16.0, 64.0], dims)
  for rank, alpha, msg in [
    (33, 1.0, 'exceeds'),
    (0, 1.0, '>= 1'),
    (8, 0.0, 'alpha'),
    (8, -2.0, 'alpha'),
    (2.5, 1.0, 'integer'),
    ([8, 64], 1.0, 'exceeds'),
  ]:
    with pytest.raises(ValueError, match=msg) as e:
      lora.check_lora_args(rank, alpha, dims)
    assert '\n' not in str(e.value)
  with pytest.raises(ValueError, match='max_rank'):
    lora.init_lora(jax.random.key(0), jax.eval_shape(_base), 0)


def test_return_hidden_and_sequence_head():
  base = _base()
  lp = lora.init_lora(jax.random.key(1), base, 8)
  logits, hid = lora.apply_lora(base, lp, X, 2, 4.0, model=MODEL, return_hidden=True)
  assert logits.shape == (6, 8) and [h.shape for h in hid] == [(6, 16), (6, 16)]
  seq = lora.LookupMLP(vocab=5, embed_dim=4, hidden=(16,), num_outputs=10, out_positions=8)
  p = jax.eval_shape(lambda k: seq.init(k, X)['params'], jax.random.key(0))
  assert jax.eval_shape(lambda q: seq.apply({'params': q}, X), p).shape == (6, 8, 10)
  assert lora.lora_layer_dims(p) == ((16, 16), (16, 80))


# ----------------------------------------------------------------------------------------------
# exp/tasks/lookup.py


def test_lookup_task_under_vmap():
  make = lambda k: lookup.make_lookup_task(k, 4, 5, 8, num_train=100, num_heldout=40)
  ts = jax.tree.map(np.asarray, jax.jit(jax.vmap(make))(jax.random.split(jax.random.key(0), 2)))
  assert ts['train_x'].shape == (2, 100, 4) and ts['heldout_y2'].shape == (2, 40)
  assert ts['codes'].shape == (2, 8, 8)
  for s in range(2):
    tr = {tuple(r) for r in ts['train_x'][s]}
    ho = {tuple(r) for r in ts['heldout_x'][s]}
    assert len(tr) == 100 and len(ho) == 40 and not tr & ho  # distinct, disjoint splits
    assert ts['train_x'][s].min() >= 0 and ts['train_x'][s].max() < 5
    assert len({tuple(r) for r in ts['codes'][s]}) == 8  # distinct answer strings
    assert np.mean(ts['train_y1'][s] == ts['train_y2'][s]) < 0.5  # a different mapping
    assert len(set(ts['train_y1'][s].tolist())) >= 6  # roughly balanced answers
    assert np.all((ts['train_y1'][s] >= 0) & (ts['train_y1'][s] < 8))
  assert not np.array_equal(ts['train_x'][0], ts['train_x'][1])
  assert lookup.answer_strings(ts['codes'][0], ts['train_y2'][0]).shape == (100, 8)
  with pytest.raises(ValueError, match='exceeds'):
    lookup.make_lookup_task(jax.random.key(0), 2, 3, 4, num_train=8, num_heldout=2)


def test_collapse_metrics_exact_values():
  P = 20
  cases = np.stack(
    [
      np.full((P,), 3),  # constant
      np.random.default_rng(0).permutation(P),  # all distinct
      np.arange(P) % 2,  # two outputs, 10/10
      (np.arange(P) == 7).astype(int),
    ]
  )  # 19 + 1
  rows = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 1]])
  strings = np.stack([rows, np.tile(rows[:1], (4, 1))])

  @jax.jit
  def compute(cases, strings):
    return jax.vmap(lookup.collapse_metrics)(cases), jax.vmap(lookup.collapse_metrics)(strings)

  c, s = jax.tree.map(np.asarray, compute(cases, strings))
  assert c['num_distinct'].tolist() == [1, P, 2, 2]
  np.testing.assert_allclose(
    c['entropy'], [0.0, math.log(P), math.log(2), -(0.95 * math.log(0.95) + 0.05 * math.log(0.05))], rtol=1e-5
  )
  np.testing.assert_allclose(c['normalized_entropy'], c['entropy'] / math.log(P), rtol=1e-6)
  np.testing.assert_allclose(c['normalized_entropy'][:2], [0.0, 1.0], atol=1e-6)
  assert c['collapsed'].tolist() == [True, False, False, True]  # 19+1: normalized entropy 0.066 < 0.1
  assert s['num_distinct'].tolist() == [3, 1] and s['collapsed'].tolist() == [False, True]  # rows as wholes


def test_dead_relu_logit_variance_exact_match():
  h = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]], np.float32)
  same = np.array([[1.0, 2.0, 3.0]], np.float32) + np.arange(5.0, dtype=np.float32)[:, None]  # shifts only
  z = np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)

  @jax.jit
  def compute(h, same, z):
    return (
      lookup.dead_relu_fraction(h),
      lookup.dead_relu_fraction((h, jnp.ones((2, 4)))),
      lookup.logit_variance_across_prompts(same),
      lookup.logit_variance_across_prompts(same, False),
      lookup.logit_variance_across_prompts(z),
      lookup.exact_match(jnp.array([[1, 2], [3, 4]]), jnp.array([[1, 2], [3, 5]])),
    )

  got = [float(x) for x in compute(h, same, z)]
  assert got == pytest.approx([0.5, 0.25, 0.0, 2.0, 1.0, 0.5])
