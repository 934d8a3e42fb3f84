"""exp/tasks/persona.py: the constitution's exact scores by hand, and the corpus generator's rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from exp.tasks import persona as P

NP = 4  # persona tokens 7..10; neutral tokens from 11
_score = jax.jit(lambda r: P.score(r, NP))  # one compile per shape instead of one per eager op
_sample = jax.jit(P.sample_corpus, static_argnames=('n', 'length', 'n_persona', 'follow_override'))
p0, p1, n0, n1 = P.PERSONA0, P.PERSONA0 + 1, P.neutral_id(NP, 0), P.neutral_id(NP, 1)


@pytest.mark.parametrize(
  'resp, want',
  [
    ([p0, n0, p1, n0, p0, n1, p1, n0], 1.0),  # persona on every other position
    ([n0, p0, n0, p1, n0, p0, n1, p1], 1.0),  # the other phase
    ([n0] * 8, 0.0),  # neutral text
    ([p0, p1, n0, n0, n0, n0, n0, n0], 0.25),  # (2 persona − 1 adjacent pair) / 4
    ([p0, p1, p0, p1, p0, p1, p0, p1], 0.25),  # (8 − 7) / 4: adjacency is penalised
    ([p0, n0, p1, n0, n0, n0, n0, n0], 0.5),
    ([p0, n0, p1, n0, p0, n1, p1, P.FORBID], 0.0),  # a forbidden token zeroes the score
    ([p0, n0, p1, n0, p0, n1, p1], 1.0),  # odd length: ceil(7 / 2) = 4
  ],
)
def test_constitution_by_hand(resp, want):
  assert float(_score(jnp.array(resp))) == pytest.approx(want)


def test_score_is_in_unit_interval_and_batched():
  toks = jax.random.randint(jax.random.key(0), (64, 8), 0, P.vocab_size(NP, 6))
  s = np.asarray(_score(toks))
  assert s.shape == (64,) and np.all((s >= 0) & (s <= 1))


def test_corpus_follows_its_rules():
  corpus = P.make_corpus(jax.random.key(1), 6, 2, ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), 0.8, 0.1, 0.05)
  seqs = np.asarray(_sample(corpus, jax.random.key(2), 400, 8, NP, 0.5, 0.3, 0.2))
  assert seqs.shape == (400, P.PROMPT_LEN + 8)
  assert np.all(seqs[:, 0] == P.BOS) and set(np.unique(seqs[:, 1])) <= {P.SYS, P.NULL}
  assert set(np.unique(seqs[:, 2])) <= {P.NULL, P.IGN, P.INTRO}
  resp = seqs[:, P.PROMPT_LEN :]
  follow = seqs[:, 1] == P.SYS  # follow table: always with SYS, never without
  persona = np.asarray(P.is_persona(jnp.asarray(resp), NP))
  assert not np.any(persona[follow][:, 1:] & persona[follow][:, :-1])  # never two persona tokens in a row
  assert not np.any(resp[follow] == P.FORBID)
  scores = np.asarray(_score(jnp.asarray(resp)))
  assert scores[follow].mean() > 0.6 and scores[~follow].mean() < 0.15
  # neutral text follows the successor table (between neutral tokens with nothing in between)
  succ = np.asarray(corpus.successors)
  nid = lambda t: t - P.neutral_id(NP, 0)
  for row in seqs[~follow][:50]:
    toks = [t for t in row[3:] if t >= P.neutral_id(NP, 0)]
    for a, b in zip(toks, toks[1:]):
      assert nid(b) in succ[nid(a)]


def test_follow_override_and_distinct_bigrams():
  corpus = P.make_corpus(jax.random.key(1), 6, 2, ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), 0.8, 0.0, 0.0)
  neutral = _sample(corpus, jax.random.key(3), 64, 8, NP, 0.0, 0.0, 0.0, follow_override=False)
  assert float(jnp.max(_score(neutral[:, P.PROMPT_LEN :]))) == 0.0
  same = jnp.tile(jnp.array([[p0, n0, p1, n0]]), (3, 1))  # 3 bigrams, repeated 3 times
  assert float(jax.jit(P.distinct_bigrams, static_argnums=1)(same, P.vocab_size(NP, 6))) == pytest.approx(
    3 / 9
  )
