"""Template-grammar jokes (exp/tasks/jokes.py): samples are well-formed, the checker rejects edits, and the
layout is as documented."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from exp.tasks import jokes as J


def test_samples_are_jokes_and_the_checker_rejects_edits():
  toks = np.asarray(J.sample_jokes(jax.random.key(0), 64, 16))
  assert toks.shape == (64, 16) and toks.dtype == np.int32
  assert np.all(toks[:, 0] == J.BOS)
  assert np.all(np.sum(toks == J.EOS, axis=1) == 1)
  assert np.asarray(J.is_joke(jnp.asarray(toks))).all()
  # every template shows up, slots vary
  firsts = {J.decode(t).split()[0] for t in toks}
  assert firsts == {'why', 'what', 'knock', 'my'}
  assert len({tuple(t) for t in toks}) > 50
  bad = toks.copy()
  bad[:, 3] = J.EOS  # ends too early
  swapped = toks.copy()
  swapped[:, [1, 3]] = toks[:, [3, 1]]  # words out of order
  no_eos = np.where(toks == J.EOS, J.PAD, toks)
  for edited in (bad, swapped, no_eos):
    assert not np.asarray(J.is_joke(jnp.asarray(edited))).any()


def test_decode_and_layout():
  assert J.VOCAB == 3 + len(J.WORDS) and J.WORDS[0] == 'why'
  w = {word: 3 + i for i, word in enumerate(J.WORDS)}
  seq = [J.BOS, w['knock'], w['knock'], w['.'], J.EOS, J.PAD]
  assert J.decode(seq) == 'knock knock . ⏎'
  with pytest.raises(ValueError):
    J.sample_jokes(jax.random.key(0), 2, J.MIN_SEQ_LEN - 1)
