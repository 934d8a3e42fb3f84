"""Template-grammar "jokes" with an exact evaluator (docs/families/degeneration.md).

A joke is one of a few fixed-length templates whose slots are filled uniformly from word classes, e.g.
``why did the <animal> cross the <place> ? to <verb> the <thing> .``. Token layout:

    PAD = 0, BOS = 1, EOS = 2, words 3 .. vocab − 1 (``WORDS``, fixed words and slot fillers alike).

A sequence is a buffer of ``seq_len`` tokens ``[BOS, w_1 .. w_k, EOS, PAD ...]``; ``seq_len`` must be at
least ``MIN_SEQ_LEN`` (the longest template + BOS + EOS). Loop-free by construction: no template repeats a
unit of its own three times in a row, so any loop in a generated joke comes from the generator.
Everything is jax and static-shaped (tables built once on the host), so sampling and checking run
inside traced, vmapped programs.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

PAD, BOS, EOS = 0, 1, 2

CLASSES = {
  'animal': ('cat', 'dog', 'cow', 'duck', 'frog', 'bear'),
  'place': ('road', 'park', 'farm', 'river', 'moon'),
  'verb': ('eat', 'find', 'fix', 'hug', 'paint'),
  'thing': ('cake', 'hat', 'ball', 'car', 'joke'),
  'adj': ('tiny', 'loud', 'sad', 'happy', 'purple'),
  'name': ('bob', 'ann', 'lou', 'max'),
}
# Words in <angle brackets> are slots; the rest are fixed words.
TEMPLATES = (
  'why did the <animal> cross the <place> ? to <verb> the <thing> .',
  'what do you call a <adj> <animal> ? a <adj> <thing> .',
  'knock knock . who ? <name> . <name> who ? <name> <verb> .',
  'my <animal> is so <adj> it can <verb> the <place> .',
)


def _build():
  fixed = []
  for t in TEMPLATES:
    for w in t.split():
      if not w.startswith('<') and w not in fixed:
        fixed.append(w)
  words = tuple(fixed) + tuple(w for ws in CLASSES.values() for w in ws)
  ids = {w: 3 + i for i, w in enumerate(words)}
  vocab = 3 + len(words)
  # Classes: one per fixed word, one per slot class, then EOS and PAD (membership over token ids).
  names = [f'={w}' for w in fixed] + list(CLASSES) + ['EOS', 'PAD']
  members = [[ids[w]] for w in fixed] + [[ids[w] for w in ws] for ws in CLASSES.values()] + [[EOS], [PAD]]
  width = max(len(m) for m in members)
  table = np.zeros((len(names), width), np.int32)
  counts = np.array([len(m) for m in members], np.int32)
  member = np.zeros((len(names), vocab), bool)
  for c, m in enumerate(members):
    table[c, : len(m)] = m
    member[c, m] = True
  cls = {n: i for i, n in enumerate(names)}
  parsed = [[cls[w[1:-1]] if w.startswith('<') else cls['=' + w] for w in t.split()] for t in TEMPLATES]
  return words, vocab, table, counts, member, parsed, cls['EOS'], cls['PAD']


WORDS, VOCAB, _TABLE, _COUNTS, _MEMBER, _PARSED, _EOS_CLASS, _PAD_CLASS = _build()
MIN_SEQ_LEN = max(len(p) for p in _PARSED) + 2  # BOS + the longest template + EOS


def vocab_size() -> int:
  return VOCAB


def _templates(seq_len: int) -> np.ndarray:
  """(n_templates, seq_len) class ids of every buffer position after BOS ... i.e. positions 1..seq_len−1,
  EOS after the words and PAD to the end."""
  out = np.full((len(_PARSED), seq_len - 1), _PAD_CLASS, np.int32)
  for i, p in enumerate(_PARSED):
    out[i, : len(p)] = p
    out[i, len(p)] = _EOS_CLASS
  return out


def _check_len(seq_len: int) -> None:
  if seq_len < MIN_SEQ_LEN:
    raise ValueError(f'seq_len must be >= {MIN_SEQ_LEN} (the longest template + BOS + EOS), got {seq_len}')


@partial(jax.jit, static_argnames=('n', 'seq_len'))
def sample_jokes(key: jax.Array, n: int, seq_len: int) -> jax.Array:
  """(n, seq_len) int32 jokes ``[BOS, words, EOS, PAD ...]``: a uniform template, each slot filled
  uniformly from its class (one flat uniform draw)."""
  _check_len(seq_len)
  tpl = jnp.asarray(_templates(seq_len))
  u = jax.random.uniform(key, (n * seq_len,)).reshape(n, seq_len)
  t = jnp.minimum((u[:, 0] * tpl.shape[0]).astype(jnp.int32), tpl.shape[0] - 1)
  classes = tpl[t]  # (n, seq_len − 1)
  count = jnp.asarray(_COUNTS)[classes]
  pick = jnp.minimum((u[:, 1:] * count).astype(jnp.int32), count - 1)
  words = jnp.asarray(_TABLE)[classes, pick]
  return jnp.concatenate([jnp.full((n, 1), BOS, jnp.int32), words], axis=1)


@jax.jit
def is_joke(tokens: jax.Array) -> jax.Array:
  """(n,) bool: the buffer (n, seq_len) is exactly ``[BOS, a template filled from its classes, EOS,
  PAD ...]``."""
  _, seq_len = tokens.shape
  _check_len(seq_len)
  tpl = jnp.asarray(_templates(seq_len))  # (K, seq_len − 1)
  member = jnp.asarray(_MEMBER)  # (classes, vocab)
  body = jnp.clip(tokens[:, 1:], 0, VOCAB - 1)
  ok = member[tpl[None, :, :], body[:, None, :]]  # (n, K, seq_len − 1)
  in_range = jnp.all((tokens >= 0) & (tokens < VOCAB), axis=1)
  return jnp.any(jnp.all(ok, axis=2), axis=1) & (tokens[:, 0] == BOS) & in_range


def decode(tokens) -> str:
  """One sequence as text: words up to the first EOS (BOS, PAD dropped; EOS shown as '⏎')."""
  out = []
  for t in np.asarray(tokens).tolist():
    if t == EOS:
      out.append('⏎')
      break
    if t >= 3:
      out.append(WORDS[t - 3] if t - 3 < len(WORDS) else f'<{t}>')
  return ' '.join(out)
