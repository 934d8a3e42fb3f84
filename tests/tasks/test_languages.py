"""Synthetic Markov task and program languages and their exact evaluators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from exp.tasks import languages as L


@pytest.fixture(scope='module')
def langs():
  return jax.vmap(L.make_markov_language)(jax.random.split(jax.random.key(0), 2))


def test_markov_language_structure_and_vmap(langs):
  allowed, probs = np.asarray(langs.allowed), np.asarray(langs.probs)
  assert allowed.shape == (2, 4, 12, 12)
  assert np.all(allowed.sum(-1) == 3)
  assert not np.any(allowed[..., np.arange(12), np.arange(12)])
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
  assert np.all((probs > 0) == allowed)
  assert not np.array_equal(allowed[0], allowed[1])  # differs per seed
  assert L.markov_vocab_size() == 19 and L.content_offset(4) == 7
  # Sampling and scoring vmap over a seed axis of languages and keys.
  tasks, ctx = jnp.arange(8) % 4, jnp.ones(8, bool)

  @jax.jit
  @jax.vmap
  def rates(lang, key):
    seqs = L.sample_markov(lang, key, 8, 10, tasks, ctx)
    return L.legal_rate(lang, seqs, tasks, 2), L.repetition_rate(seqs, 2, start=2)

  legal, rep = rates(langs, jax.random.split(jax.random.key(5), 2))
  np.testing.assert_array_equal(legal, [1.0, 1.0])
  assert rep.shape == (2,) and np.all((rep >= 0) & (rep < 1))


def test_markov_samples_legal_random_not(langs):
  lang = jax.tree.map(lambda x: x[0], langs)
  tasks = jnp.arange(8) % 4
  ctx = jnp.arange(8) % 2 == 0
  rand = np.random.default_rng(0).integers(7, 19, (8, 12)).astype(np.int32)

  @jax.jit
  def run(lang, key):
    seqs = L.sample_markov(lang, key, 8, 10, tasks, ctx)
    few = L.sample_markov(lang, key, 3, 10, tasks[:3], ctx[:3])
    rates = [
      L.legal_rate(lang, seqs, tasks, 2),
      L.legal_rate(lang, rand, tasks, 2),
      L.legal_rate(lang, seqs, (tasks + 1) % 4, 2),  # another task's chain
      L.legal_rate(lang, seqs.at[:, 6].set(L.PAD), tasks, 2),
    ]
    return seqs, few, rates

  seqs, few, (own, random, other_task, with_pad) = run(lang, jax.random.key(2))
  assert seqs.shape == (8, 12) and seqs.dtype == jnp.int32
  assert np.all(seqs[:, 0] == L.BOS)
  np.testing.assert_array_equal(seqs[:, 1], np.where(ctx, 3 + tasks, L.NULL))
  assert np.all((seqs[:, 2:] >= 7) & (seqs[:, 2:] < 19))
  np.testing.assert_array_equal(few, seqs[:3])  # row r does not depend on the batch size
  assert float(own) == 1.0
  assert float(random) < 0.5 and float(other_task) < 0.8
  assert float(with_pad) < 1.0  # a generated non-content token is illegal


def test_repetition_rate():
  toks = jnp.array([[1, 2, 1, 2, 1], [1, 2, 3, 4, 5]])
  # bigrams row 0: 12 21 12 21 -> 2 unique of 4; row 1: 4 unique of 4.
  np.testing.assert_allclose(L.repetition_rate(toks, n=2), 0.25)
  np.testing.assert_allclose(L.repetition_rate(toks, n=1), (1 - 2 / 5) / 2)


def test_delete_tokens():
  toks = jnp.arange(2, 14, dtype=jnp.int32).reshape(2, 6)
  key = jax.random.key(0)
  np.testing.assert_array_equal(L.delete_tokens(key, toks, 0.0, 0), toks)
  np.testing.assert_array_equal(L.delete_tokens(key, toks, 1.0, 0), np.zeros((2, 6)))
  out = np.asarray(jax.jit(L.delete_tokens)(key, toks, jnp.float32(0.5), 0))
  for row, src in zip(out, np.asarray(toks)):
    kept = row[row != 0]
    assert np.all(row[len(kept) :] == 0)  # pads only at the end
    assert list(kept) == [x for x in src if x in set(kept)]  # order of kept tokens


def test_delete_tokens_equals_the_stable_sort_formulation():
  """delete_tokens moves the kept tokens left without a sort; the tokens are those of the former stable
  argsort formulation, for every deletion probability (vmapped over keys as in the families' steps)."""

  def by_sort(key, tokens, p, pad_id=0):
    keep = jax.random.uniform(key, tokens.shape) >= p
    order = jnp.argsort(~keep, axis=-1, stable=True)
    moved = jnp.take_along_axis(tokens, order, axis=-1)
    n_keep = jnp.sum(keep, axis=-1, keepdims=True)
    return jnp.where(jnp.arange(tokens.shape[-1]) < n_keep, moved, pad_id)

  toks = jnp.asarray(np.random.default_rng(0).integers(2, 9, (5, 7, 6)), jnp.int32)
  keys = jax.random.split(jax.random.key(1), 5)
  p = jnp.asarray([0.0, 0.1, 0.5, 0.9, 1.0])  # one run per deletion probability
  ours = jax.jit(jax.vmap(lambda k, t, p: L.delete_tokens(k, t, p, 0)))(keys, toks, p)
  np.testing.assert_array_equal(ours, jax.jit(jax.vmap(by_sort))(keys, toks, p))
  np.testing.assert_array_equal(ours[0], toks[0])  # p = 0 keeps every token
  assert np.all(np.asarray(ours[-1]) == 0)  # p = 1 deletes every token


def test_program_exact_match():
  @jax.jit
  def run(key):
    prog = L.make_program(key, noise=0.0)
    prompts, responses = L.sample_program_data(prog, jax.random.fold_in(key, 1), 20)
    j = 0  # response token j depends on prompt[a_j], prompt[b_j] only
    keep = (jnp.arange(6) == prog.a[j]) | (jnp.arange(6) == prog.b[j])
    changed = jnp.where(keep, prompts, L.SYM0)
    noisy = prog._replace(noise=jnp.float32(0.5))
    _, noisy_resp = L.sample_program_data(noisy, jax.random.fold_in(key, 1), 20)
    return (
      prog,
      prompts,
      responses,
      L.program_exact_match(prog, prompts, responses),
      L.program_sequences(prompts, responses),
      L.program_output(prog, changed)[:, j],
      L.program_exact_match(prog, prompts, noisy_resp),
    )

  prog, prompts, responses, em, seqs, changed_j, noisy_em = run(jax.random.key(0))
  assert prompts.shape == (20, 6) and responses.shape == (20, 10)
  assert np.all(np.asarray(prog.a) != np.asarray(prog.b))
  assert float(em) == 1.0
  assert seqs.shape == (20, 17) and np.all(seqs[:, 6] == L.PROG_SEP)
  np.testing.assert_array_equal(changed_j, responses[:, 0])
  assert float(noisy_em) < 1.0
