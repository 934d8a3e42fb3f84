"""Host-side degeneration metrics (exp/analysis/degeneration.py) against hand-computed values and plain
Python / zlib references."""

import math
import zlib

import numpy as np
import pytest

from exp.analysis import degeneration as H


def test_deflate_ratio_is_raw_deflate():
  seq = [3, 4] * 10
  c = zlib.compressobj(9, zlib.DEFLATED, -15)
  assert H.deflate_size(seq) == len(c.compress(bytes(seq)) + c.flush())
  assert H.deflate_ratio(seq) == H.deflate_size(seq) / 20
  assert math.isnan(H.deflate_ratio([]))
  c = zlib.compressobj(9, zlib.DEFLATED, -15)
  assert H.deflate_size([300, 3]) == len(c.compress(bytes([1, 44, 0, 3])) + c.flush())  # ids >= 256: 2 bytes
  with pytest.raises(ValueError):
    H.deflate_ratio([-1])


def test_relative_compression_flags_loops_not_distinct_sequences():
  loop = [5, 6] * 8
  distinct = list(range(3, 19))
  rel = H.relative_compression([loop, distinct, []], n_baselines=4, seed=0)
  assert rel[0] < 0.8  # a loop compresses far better than its shuffles
  assert rel[1] == pytest.approx(1.0, abs=0.1)  # no repeated token: shuffles compress the same
  assert math.isnan(rel[2])


def test_distinct_n_duplicates_and_trim():
  seqs = [[1, 2, 3], [1, 2, 3], [3, 2, 1, 2]]
  # bigrams: 12 23 | 12 23 | 32 21 12 -> 4 unique of 7
  assert H.distinct_n(seqs, 2) == pytest.approx(4 / 7)
  assert math.isnan(H.distinct_n([[1]], 2))
  assert H.duplicate_flags(seqs).tolist() == [True, True, False]
  assert H.exact_duplicate_ratio(seqs) == pytest.approx(1 / 3)
  assert math.isnan(H.exact_duplicate_ratio([]))
  assert H.trim(np.array([[1, 2, 9], [4, 9, 9]]), [2, 1]) == [[1, 2], [4]]


def test_auroc_hand_values_and_ties():
  assert H.auroc([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == 1.0
  assert H.auroc([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0]) == 0.0
  # pos {0.5, 0.2}, neg {0.5, 0.1}: pairs (0.5>0.1) (0.5=0.5: ½) (0.2>0.1) (0.2<0.5) -> 2.5 / 4
  assert H.auroc([0.5, 0.2, 0.5, 0.1], [1, 1, 0, 0]) == 0.625
  assert math.isnan(H.auroc([0.1, 0.2], [1, 1]))
  assert H.auroc([np.nan, 0.9, 0.1], [0, 1, 0]) == 1.0  # non-finite scores are left out
