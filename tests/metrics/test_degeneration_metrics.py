"""JAX degeneration metrics (exp/metrics/degeneration.py) against plain-Python references: hand-made
sequences with hand-computed values, random sequences (hypothesis), both seq-rep-n code paths (encoded and
lexicographic), and vmapped = alone."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exp.metrics import degeneration as dm

# ---------------------------------------------------------------------------------------------------
# Plain-Python references (the definitions, written the obvious way)


def ref_seq_rep(seq, n):
  grams = [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]
  return 1 - len(set(grams)) / len(grams) if grams else math.nan  # the reference divides by zero


def ref_rep_l(seq, l):
  return sum(seq[t] in seq[max(0, t - l) : t] for t in range(len(seq))) / len(seq) if seq else math.nan


def ref_longest_repeat(seq):
  """Longest substring occurring twice (overlap allowed) and the smallest distance between two occurrences
  of a repeat of that length, by brute force over substrings."""
  best, period = 0, 0
  for k in range(1, len(seq)):
    dists = [
      j - i
      for i in range(len(seq) - k + 1)
      for j in range(i + 1, len(seq) - k + 1)
      if seq[i : i + k] == seq[j : j + k]
    ]
    if dists:
      best, period = k, min(dists)
  return best, period


def ref_loop(seq, max_period=4, repeats=3, min_span=4):
  for p in range(1, max_period + 1):
    for i in range(len(seq)):
      unit = seq[i : i + p]
      span = unit * repeats
      if len(unit) == p and seq[i : i + p * repeats] == span and p * repeats >= min_span:
        return True
      # a run of matches (repeats − 1)·p at shift p covering min_span: extend the span beyond repeats·p
      run = 0
      while i + p + run < len(seq) and seq[i + run] == seq[i + p + run]:
        run += 1
      if run >= (repeats - 1) * p and run + p >= min_span:
        return True
  return False


def batch(seqs, L):
  toks = np.zeros((len(seqs), L), np.int32)
  for i, s in enumerate(seqs):
    toks[i, : len(s)] = s
    toks[i, len(s) :] = 99  # junk beyond the length must be ignored
  return jnp.asarray(toks), jnp.asarray([len(s) for s in seqs], jnp.int32)


HAND = [
  [3, 4, 3, 4, 3, 4, 5],  # a period-2 loop
  [5, 6, 7, 8, 9, 10, 11, 12],  # no repeat
  [3, 3, 3, 3],  # period 1
  [7],  # shorter than every n > 1
  [],  # empty
  [1, 2, 3, 1, 2, 3, 1, 2],  # period 3, 8 tokens
]


def close(a, b):
  return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-6


def test_seq_rep_hand_values():
  toks, lens = batch(HAND, 9)
  # [3,4,3,4,3,4,5]: bigrams 34 43 34 43 34 45 -> 3 unique of 6 -> 0.5; 4-grams 4, 3 unique -> 0.25
  np.testing.assert_allclose(dm.seq_rep_n(toks, lens, 2, 100)[:3], [0.5, 0.0, 2 / 3], atol=1e-6)
  np.testing.assert_allclose(dm.seq_rep_n(toks, lens, 4, 100)[:3], [0.25, 0.0, 0.0], atol=1e-6)
  assert np.isnan(dm.seq_rep_n(toks, lens, 2, 100)[3]) and np.isnan(dm.seq_rep_n(toks, lens, 2, 100)[4])
  assert float(dm.seq_rep_n(toks, lens, 1, 100)[3]) == 0.0


@pytest.mark.parametrize('n', [1, 2, 3, 4])
@pytest.mark.parametrize('vocab', [100, None])  # encoded; lexicographic; 60000**n overflows int32
def test_seq_rep_matches_reference_on_both_paths(n, vocab):
  toks, lens = batch(HAND, 9)
  got = np.asarray(dm.seq_rep_n(toks, lens, n, vocab))
  for g, s in zip(got, HAND):
    assert close(float(g), ref_seq_rep(s, n)), (s, n, g)


def test_seq_rep_large_ids_do_not_collide():
  # ids near 60000: base-60000 codes of 3-grams overflow int32; the lexicographic path must still be exact
  a = [59999, 59998, 59997, 59999, 59998, 59996]
  toks, lens = batch([a], 6)
  for n in (1, 2, 3):
    assert close(float(dm.seq_rep_n(toks, lens, n, 60000)[0]), ref_seq_rep(a, n))


def test_rep_l_longest_repeat_loop_flag_hand_values():
  toks, lens = batch(HAND, 9)
  np.testing.assert_allclose(dm.rep_l(toks, lens, 2)[:3], [4 / 7, 0.0, 3 / 4], atol=1e-6)
  lrs, period = dm.longest_repeat(toks, lens)
  assert lrs.tolist() == [4, 0, 3, 0, 0, 5] and period.tolist() == [2, 0, 1, 0, 0, 3]
  # [1,2,3,1,2,3,1,2]: period 3 repeats only 2⅔ times (a run of 5 < (3 − 1)·3 matches): no loop
  assert dm.loop_flag(toks, lens).tolist() == [True, False, True, False, False, False]
  assert dm.length_until(jnp.asarray([[5, 2, 7], [5, 6, 7]]), 2).tolist() == [1, 3]


@jax.jit
def _every_metric(toks, lens):
  """Every metric of the random-sequence test in one compiled program (as the families run them: under
  jit); op-by-op dispatch would cost the test ~0.25 s per example."""
  reps = {n: dm.seq_rep_n(toks, lens, n, 7) for n in (1, 2, 3, 4)}
  return (
    reps,
    dm.seq_rep_n(toks, lens, 3),
    dm.rep_l(toks, lens, 3),
    dm.longest_repeat(toks, lens),
    dm.loop_flag(toks, lens),
  )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(3, 6), min_size=0, max_size=10), min_size=5, max_size=5))
def test_random_sequences_match_references(seqs):
  toks, lens = batch(seqs, 10)  # always (5, 10): one compile
  reps, lex, repl, (lrs, period), loop = jax.tree.map(np.asarray, _every_metric(toks, lens))
  for i, s in enumerate(seqs):
    for n in (1, 2, 3, 4):
      assert close(float(reps[n][i]), ref_seq_rep(s, n))
    assert close(float(lex[i]), ref_seq_rep(s, 3))
    assert close(float(repl[i]), ref_rep_l(s, 3))
    assert (int(lrs[i]), int(period[i])) == ref_longest_repeat(s)
    assert bool(loop[i]) == ref_loop(s)


def test_vmapped_equals_alone_and_jits():
  toks, lens = batch(HAND, 9)

  def all_metrics(t, n):
    lrs, per = dm.longest_repeat(t, n)
    return dm.seq_rep_n(t, n, 2, 100), dm.rep_l(t, n, 4), lrs, per, dm.loop_flag(t, n)

  together = jax.jit(all_metrics)(toks, lens)
  alone = jax.jit(jax.vmap(lambda t, n: all_metrics(t[None], n[None])))(toks, lens)
  for a, b in zip(together, alone):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b)[:, 0])


def test_bad_arguments():
  toks, lens = batch(HAND, 9)
  with pytest.raises(ValueError):
    dm.seq_rep_n(toks, lens, 0)
  with pytest.raises(ValueError):
    dm.rep_l(toks, lens, 0)
  with pytest.raises(ValueError):
    dm.loop_flag(toks, lens, repeats=1)
