"""Dyck-2 completion task (exp/tasks/dyck.py): sampler validity, exact success, greedy decoding, metrics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from exp.tasks import dyck
from exp.tasks.dyck import (
  CLOSE_BRACKET as RB,
)
from exp.tasks.dyck import (
  CLOSE_PAREN as RP,
)
from exp.tasks.dyck import (
  EOS,
  PAD,
  SEP,
)
from exp.tasks.dyck import (
  OPEN_BRACKET as LB,
)
from exp.tasks.dyck import (
  OPEN_PAREN as LP,
)

MAX_LEN, MAX_DEPTH = 10, 4


def _py_closing(prefix):
  """Reference: the minimal closing sequence via a Python stack; None if the prefix is not valid."""
  stack = []
  for t in prefix:
    if t in (LP, LB):
      stack.append(t)
    elif t in (RP, RB):
      if not stack or stack.pop() + 2 != t:
        return None
    elif t != PAD:
      return None
  return [s + 2 for s in reversed(stack)]


BATCH = 32


@pytest.fixture(scope='module')
def res():
  """Everything per seed in one jit(vmap(...)) program over 2 seeds (compiles dominate the runtime)."""

  def run(key):
    s = dyck.sample_dyck_prefixes(key, BATCH, MAX_LEN, MAX_DEPTH)
    b = dyck.dyck_lm_batch(s)
    toks = b['tokens']

    def oracle(buf):  # causal "model" that knows the answer
      nxt = jnp.pad(toks[:, 1:], ((0, 0), (0, buf.shape[1] - toks.shape[1] + 1)))
      return jax.nn.one_hot(nxt, dyck.VOCAB)

    gen = dyck.greedy_complete(oracle, b['prompt'], b['prompt_len'], MAX_DEPTH + 1)
    logits = oracle(b['inputs'])[:, : b['inputs'].shape[1]]
    acc = dyck.per_token_accuracy(logits, b['labels'], b['loss_mask'])
    early = jnp.full_like(gen, PAD).at[:, 0].set(EOS)  # a "model" that stops at once
    both = dyck.dyck_success(jnp.concatenate([s['prefix'], s['prefix']]), jnp.concatenate([gen, early]))
    rate, count = dyck.success_by_depth(both[:BATCH], s['depth'], MAX_DEPTH)
    return dict(s=s, b=b, gen=gen, acc=acc, ok=both[:BATCH], ok_early=both[BATCH:], rate=rate, count=count)

  out = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(1), 2))
  return jax.tree.map(np.asarray, out)


def test_sampled_prefixes_valid_and_targets_unique_closing(res):
  for seed in range(2):
    s = jax.tree.map(lambda x: x[seed], res['s'])
    assert s['prefix'].shape == (BATCH, MAX_LEN) and s['target'].shape == (BATCH, MAX_DEPTH + 1)
    for i in range(BATCH):
      L, d, pre = s['length'][i], s['depth'][i], s['prefix'][i]
      assert 1 <= L <= MAX_LEN and np.all(pre[L:] == PAD) and np.all(pre[:L] != PAD)
      closing = _py_closing(pre[:L])
      assert closing is not None and len(closing) == d and 1 <= d <= MAX_DEPTH
      assert s['target'][i].tolist() == closing + [EOS] + [PAD] * (MAX_DEPTH - d)
      assert _py_closing(list(pre[:L]) + closing) == []  # prefix + target is balanced
    assert len(set(s['depth'].tolist())) > 1 and len(set(s['length'].tolist())) > 2
  assert not np.array_equal(res['s']['prefix'][0], res['s']['prefix'][1])  # seeds differ


def test_dyck_success_exact_cases():
  pre = [LP, LB, LP, RP, PAD, PAD]  # "([()" needs "])" EOS
  cases = [
    (pre, (RB, RP, EOS, PAD, PAD), True),
    (pre, (RB, RP, EOS, LP, PAD), True),  # tokens after EOS are ignored
    (pre, (LP, RP, RB, RP, EOS), True),  # extra matched pair, still well formed
    (pre, (RB, EOS, PAD, PAD, PAD), False),  # early EOS
    (pre, (RP, RB, EOS, PAD, PAD), False),  # wrong closer order
    (pre, (RB, RP, PAD, PAD, PAD), False),  # no EOS
    (pre, (RB, RP, RP, EOS, PAD), False),  # overshoot
    (pre, (RB, RP, LP, RP, EOS), False),  # continues after balanced
    (pre, (RB, PAD, RP, EOS, PAD), False),  # PAD before EOS
    (pre, (SEP, RB, RP, EOS, PAD), False),
    ([LP, RB, PAD, PAD, PAD, PAD], (RP, EOS, PAD, PAD, PAD), False),  # malformed prefix
    ([LB, PAD, PAD, PAD, PAD, PAD], (RB, EOS, PAD, PAD, PAD), True),
  ]
  got = dyck.dyck_success(jnp.array([c[0] for c in cases]), jnp.array([c[1] for c in cases]))
  assert got.tolist() == [c[2] for c in cases]


def test_lm_batch_greedy_oracle_and_metrics_under_seed_vmap(res):
  s, b = res['s'], res['b']
  assert b['tokens'].shape == (2, BATCH, MAX_LEN + MAX_DEPTH + 2)
  np.testing.assert_array_equal(res['gen'], s['target'])  # greedy reproduces closing + EOS
  assert res['ok'].all() and not res['ok_early'].any() and np.allclose(res['acc'], 1.0)
  assert np.array_equal(b['loss_mask'].sum(-1), s['depth'] + 1)  # closers + EOS, nothing else
  rows = np.arange(BATCH)
  for seed in range(2):
    L = s['length'][seed]
    assert np.all(b['tokens'][seed][rows, L] == SEP) and np.all(b['prompt'][seed][rows, L] == SEP)
    assert np.all(b['prompt'][seed] * (np.arange(MAX_LEN + 1) > L[:, None]) == 0)
    assert np.array_equal(b['labels'][seed], b['tokens'][seed][:, 1:])
  assert np.array_equal(b['prompt_len'], s['length'] + 1)
  seen = res['count'] > 0
  assert np.all(res['rate'][seen] == 1.0) and np.all(np.isnan(res['rate'][~seen]))
  assert np.array_equal(res['count'].sum(-1), [BATCH, BATCH])


def test_per_token_accuracy_and_success_by_depth():
  logits = jax.nn.one_hot(jnp.array([[1, 2, 3], [3, 3, 3]]), 5)
  labels = jnp.array([[1, 2, 0], [3, 0, 0]])
  mask = jnp.array([[True, True, True], [True, True, False]])
  assert float(dyck.per_token_accuracy(logits, labels, mask)) == pytest.approx(0.6)  # 3 of 5
  rate, count = dyck.success_by_depth(jnp.array([True, False, True, True]), jnp.array([1, 1, 3, 3]), 4)
  assert count.tolist() == [2, 0, 2, 0]
  np.testing.assert_array_equal(rate, [0.5, np.nan, 1.0, np.nan])
