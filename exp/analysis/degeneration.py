"""Host-side degeneration metrics (numpy, zlib, scipy): compression, corpus diversity, duplicates, AUROC.

Sequences are lists (or 1-D arrays) of non-negative token ids, already cut to their length (see
``trim``). The in-program JAX metrics (seq-rep-n, rep/l, longest repeat, loop flag) are in
exp/metrics/degeneration.py.

- ``deflate_ratio``: compressed / raw size with raw deflate (zlib, wbits −15: no header or checksum, so
  short sequences are not dominated by 6 bytes of framing), one byte per token (two when ids ≥ 256).
- ``relative_compression``: a sequence's deflate ratio over the mean ratio of equal-length baselines —
  random permutations of its own tokens (same length, same token counts, order destroyed), because the
  deflate ratio of a short string depends mostly on its length: < 1 means more compressible than its own
  shuffles, i.e. order-level repetition.
- ``distinct_n``: corpus-level unique n-grams / n-grams (Li et al. 2016).
- ``exact_duplicate_ratio`` / ``duplicate_flags``: what exact-duplicate deduplication removes.
- ``auroc``: P(score of a positive > score of a negative) + ½ P(tie), from scipy's Mann–Whitney U.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

NAN = float('nan')


def trim(tokens, lengths) -> list[list[int]]:
  """Rows of ``tokens`` (batch, L) cut to ``lengths`` (batch,): a list of token lists."""
  tokens = np.asarray(tokens)
  return [[int(t) for t in row[: int(n)]] for row, n in zip(tokens, np.asarray(lengths))]


def _bytes(seq: Sequence[int]) -> bytes:
  seq = [int(t) for t in seq]
  if any(t < 0 for t in seq):
    raise ValueError('token ids must be non-negative')
  if max(seq, default=0) < 256:
    return bytes(seq)
  return b''.join(t.to_bytes(2, 'big') for t in seq)


def deflate_size(seq: Sequence[int]) -> int:
  """Bytes of the raw-deflate stream (level 9, wbits −15) of the sequence."""
  c = zlib.compressobj(9, zlib.DEFLATED, -15)
  return len(c.compress(_bytes(seq)) + c.flush())


def deflate_ratio(seq: Sequence[int]) -> float:
  """deflate_size / raw size; NaN for an empty sequence."""
  raw = len(_bytes(seq))
  return deflate_size(seq) / raw if raw else NAN


def relative_compression(seqs: Sequence[Sequence[int]], n_baselines: int = 8, seed: int = 0) -> np.ndarray:
  """(len(seqs),): each sequence's deflate ratio / the mean deflate ratio of ``n_baselines`` random
  permutations of its own tokens (equal length); NaN for empty sequences."""
  rng = np.random.default_rng(seed)
  out = np.full(len(seqs), np.nan)
  for i, s in enumerate(seqs):
    if len(s) == 0:
      continue
    base = np.mean([deflate_ratio(list(rng.permutation(np.asarray(s)))) for _ in range(n_baselines)])
    out[i] = deflate_ratio(s) / base
  return out


def ngrams(seq: Sequence[int], n: int) -> list[tuple]:
  if n < 1:
    raise ValueError(f'n must be >= 1, got {n}')
  return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


def distinct_n(seqs: Sequence[Sequence[int]], n: int) -> float:
  """Unique n-grams over all n-grams of the corpus; NaN when it has none."""
  grams = [g for s in seqs for g in ngrams(list(s), n)]
  return len(set(grams)) / len(grams) if grams else NAN


def duplicate_flags(seqs: Sequence[Sequence[int]]) -> np.ndarray:
  """(len(seqs),) bool: the sequence occurs more than once in the corpus (dedup would touch it)."""
  keys = [tuple(int(t) for t in s) for s in seqs]
  counts = Counter(keys)
  return np.array([counts[k] > 1 for k in keys], bool)


def exact_duplicate_ratio(seqs: Sequence[Sequence[int]]) -> float:
  """1 − unique sequences / sequences: the share exact-duplicate deduplication removes; NaN if empty."""
  if not seqs:
    return NAN
  return 1.0 - len({tuple(int(t) for t in s) for s in seqs}) / len(seqs)


def auroc(scores, labels) -> float:
  """Area under the ROC curve of ``scores`` for the boolean ``labels`` (higher score = more likely
  positive), ties counted ½: U / (n_pos · n_neg) of scipy's Mann–Whitney U. Sequences whose score is
  not finite are left out; NaN when a class is then empty."""
  s, y = np.asarray(scores, float), np.asarray(labels, bool)
  keep = np.isfinite(s)
  s, y = s[keep], y[keep]
  pos, neg = s[y], s[~y]
  if pos.size == 0 or neg.size == 0:
    return NAN
  u = sps.mannwhitneyu(pos, neg, alternative='two-sided').statistic
  return float(u / (pos.size * neg.size))
