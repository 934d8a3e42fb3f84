"""Degeneration metrics of generated sequences, in JAX with static shapes (jit / vmap / scan safe).

Every function takes ``tokens`` (batch, L) int32 — the generated part only, no prompt — and ``lengths``
(batch,) int32, the number of tokens that count (e.g. ``length_until(tokens, EOS)``: tokens before the
first EOS); positions at or beyond a sequence's length are ignored, whatever they hold. All return one
value per sequence, so a family averages them as it sees fit (``nanmean`` skips the NaNs of sequences
too short for a metric). Plain-Python references of each are in tests/metrics/test_degeneration_metrics.py.

- ``seq_rep_n``: 1 − |unique n-grams| / |n-grams| (Welleck et al. 2020), NaN when length < n (the
  reference code divides by zero there).
- ``rep_l``: token-level rep/l, the fraction of counted positions whose token occurred among the
  previous l tokens (Welleck et al. 2020; position 0 has no previous token and counts as "no").
- ``longest_repeat``: the longest substring occurring twice (occurrences may overlap) and its period, the
  smallest distance between two occurrences of a repeat of that length.
- ``loop_flag``: a unit of period p ≤ max_period repeated at least ``repeats`` times back to back,
  covering at least ``min_span`` tokens (e.g. "a b a b a b").
Host-side metrics (deflate compression ratio, corpus distinct-n, exact duplicates) are in
exp/analysis/degeneration.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

INT32_MAX = 2**31 - 1


def length_until(tokens: jax.Array, stop: int) -> jax.Array:
  """(batch,) int32: the number of tokens before the first ``stop`` (L when there is none)."""
  L = tokens.shape[1]
  hit = tokens == stop
  return jnp.where(jnp.any(hit, axis=1), jnp.argmax(hit, axis=1), L).astype(jnp.int32)


def _ngrams(tokens: jax.Array, n: int) -> jax.Array:
  """(batch, L − n + 1, n): the n-gram starting at each position."""
  L = tokens.shape[1]
  return jnp.stack([tokens[:, k : L - n + 1 + k] for k in range(n)], axis=-1)


def seq_rep_n(tokens: jax.Array, lengths: jax.Array, n: int, vocab: int | None = None) -> jax.Array:
  """(batch,) float32: 1 − unique n-grams / n-grams of each sequence; NaN when its length < n.

  Counting unique n-grams with static shapes: sort each sequence's n-grams (those not inside the length
  sort last) and count the positions where the sorted n-gram changes. When ``vocab**n`` fits in int32
  each n-gram is encoded as one integer (base ``vocab``); otherwise (or with ``vocab`` None) the n-grams
  are sorted lexicographically on n keys (``lax.sort`` with ``num_keys``), which cannot overflow.
  """
  if n < 1:
    raise ValueError(f'n must be >= 1, got {n}')
  B, L = tokens.shape
  count = jnp.maximum(lengths - n + 1, 0)
  if L < n:
    return jnp.full((B,), jnp.nan, jnp.float32)
  grams = _ngrams(tokens.astype(jnp.int32), n)  # (B, G, n)
  G = grams.shape[1]
  invalid = jnp.arange(G)[None, :] >= count[:, None]  # (B, G)
  if vocab is not None and vocab**n <= INT32_MAX:
    weights = jnp.asarray([vocab**k for k in range(n - 1, -1, -1)], jnp.int32)
    code = jnp.where(invalid, INT32_MAX, jnp.sum(grams * weights, axis=-1))
    code = jnp.sort(code, axis=1)
    change = code[:, 1:] != code[:, :-1]
  else:
    keys = (invalid.astype(jnp.int32),) + tuple(grams[..., k] for k in range(n))
    srt = jax.lax.sort(keys, dimension=1, num_keys=n + 1)
    change = jnp.any(jnp.stack([s[:, 1:] != s[:, :-1] for s in srt[1:]]), axis=0)
  # The sorted valid n-grams occupy positions 0 .. count − 1: the first is new, then every change.
  in_range = jnp.arange(1, G)[None, :] < count[:, None]
  unique = (count > 0).astype(jnp.int32) + jnp.sum(change & in_range, axis=1)
  rep = 1.0 - unique / jnp.maximum(count, 1)
  return jnp.where(count > 0, rep, jnp.nan).astype(jnp.float32)


def rep_l(tokens: jax.Array, lengths: jax.Array, l: int) -> jax.Array:
  """(batch,) float32: the fraction of positions t < length whose token equals one of tokens
  t − l .. t − 1 (token-level rep/l); NaN for an empty sequence."""
  if l < 1:
    raise ValueError(f'l must be >= 1, got {l}')
  B, L = tokens.shape
  pos = jnp.arange(L)
  seen = jnp.zeros((B, L), bool)
  for d in range(1, min(l, L - 1) + 1):  # a static loop over the window, not the tokens
    prev = jnp.pad(tokens[:, :-d], ((0, 0), (d, 0)), constant_values=-1)
    seen = seen | ((tokens == prev) & (pos >= d)[None, :])
  counted = pos[None, :] < lengths[:, None]
  frac = jnp.sum(seen & counted, axis=1) / jnp.maximum(lengths, 1)
  return jnp.where(lengths > 0, frac, jnp.nan).astype(jnp.float32)


def runs_by_shift(tokens: jax.Array, lengths: jax.Array) -> jax.Array:
  """(batch, L − 1) int32: entry d − 1 is the longest run of positions i (with i + d < length) where
  token i equals token i + d — the length of the longest substring that recurs d positions later."""
  B, L = tokens.shape
  if L < 2:
    return jnp.zeros((B, 0), jnp.int32)
  partner = jnp.arange(L)[None, :] + jnp.arange(1, L)[:, None]  # (L − 1, L): position i + d
  other = jnp.take(tokens, jnp.minimum(partner, L - 1), axis=1)  # (B, L − 1, L)
  eq = (tokens[:, None, :] == other) & (partner[None] < lengths[:, None, None])

  # One scan over positions for all shifts at once (a cumsum/cummax form compiles ~20x slower on CPU).
  def body(carry, e):
    run, best = carry
    run = (run + 1) * e
    return (run, jnp.maximum(best, run)), None

  zero = jnp.zeros((B, L - 1), jnp.int32)
  (_, best), _ = jax.lax.scan(body, (zero, zero), jnp.moveaxis(eq.astype(jnp.int32), 2, 0))
  return best


def longest_repeat(tokens: jax.Array, lengths: jax.Array) -> tuple[jax.Array, jax.Array]:
  """((batch,), (batch,)) int32: the length of the longest substring that occurs at least twice
  (occurrences may overlap), and its period — the smallest distance between two occurrences of a
  repeat of that length (0 when nothing repeats)."""
  runs = runs_by_shift(tokens, lengths)
  if runs.shape[1] == 0:
    z = jnp.zeros((tokens.shape[0],), jnp.int32)
    return z, z
  best = jnp.max(runs, axis=1)
  period = jnp.where(best > 0, jnp.argmax(runs == best[:, None], axis=1) + 1, 0)
  return best.astype(jnp.int32), period.astype(jnp.int32)


def loop_flag(
  tokens: jax.Array, lengths: jax.Array, max_period: int = 4, repeats: int = 3, min_span: int = 4
) -> jax.Array:
  """(batch,) bool: some unit of period p ≤ max_period occurs ``repeats`` times back to back (a run of
  (repeats − 1)·p matches at shift p), covering at least ``min_span`` tokens (run + p ≥ min_span)."""
  if max_period < 1 or repeats < 2 or min_span < 2:
    raise ValueError(
      f'need max_period >= 1, repeats >= 2, min_span >= 2; got {max_period}, {repeats}, {min_span}'
    )
  runs = runs_by_shift(tokens, lengths)[:, :max_period]
  p = jnp.arange(1, runs.shape[1] + 1)[None, :]
  return jnp.any((runs >= (repeats - 1) * p) & (runs + p >= min_span), axis=1)
