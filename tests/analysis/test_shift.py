"""exp/analysis/shift.py: TV, AUC, domain classifier and MMD on known shifted and unshifted samples."""

import numpy as np
import pytest

from exp.analysis import shift


def test_class_prior_tv_by_hand():
  assert shift.class_prior_tv([0, 0, 1, 1], [0, 0, 0, 1], 3) == pytest.approx(0.25)
  assert shift.class_prior_tv([0, 1], [2, 2], 3) == pytest.approx(1.0)
  assert shift.class_prior_tv([0, 1, 2], [2, 1, 0], 3) == 0.0


def test_auc_by_hand():
  assert shift.auc([3, 4], [1, 2]) == 1.0
  assert shift.auc([1, 2], [3, 4]) == 0.0
  assert shift.auc([1, 3], [2, 2]) == pytest.approx(0.5)  # 1 win, 1 loss of 4 pairs... and ties: (0+1+0+1)/4


def _samples(shift_by, n=150, seed=0):
  rng = np.random.default_rng(seed)
  a = rng.standard_normal((n, 5))
  b = rng.standard_normal((n, 5))
  b[:, 0] += shift_by
  return a, b


def test_domain_auc_detects_a_shift_and_not_its_absence():
  same = shift.domain_auc(*_samples(0.0))
  moved = shift.domain_auc(*_samples(1.0))
  assert abs(same['auc'] - 0.5) < 0.1 and same['p'] > 0.01
  assert moved['auc'] < 0.4 or moved['auc'] > 0.6  # a is label 1: b shifted up scores lower
  assert moved['p'] < 1e-3 or moved['auc'] < 0.4


def test_mmd_detects_a_shift_and_not_its_absence():
  same = shift.mmd_rbf(*_samples(0.0, n=80), n_perm=100)
  moved = shift.mmd_rbf(*_samples(1.0, n=80), n_perm=100)
  assert same['p'] > 0.05 and abs(same['mmd2']) < 0.02
  assert moved['p'] <= 1 / 101 + 1e-12 and moved['mmd2'] > 0.02


def test_mmd_unbiased_estimate_by_hand():
  xa, xb = np.array([[0.0], [1.0]]), np.array([[0.0], [2.0]])
  k = lambda u, v: np.exp(-((u - v) ** 2) / 2.0)  # bandwidth 1
  expected = k(0, 1) + k(0, 2) - 2 * np.mean([k(0, 0), k(0, 2), k(1, 0), k(1, 2)])
  out = shift.mmd_rbf(xa, xb, bandwidth=1.0, n_perm=0)
  assert out['mmd2'] == pytest.approx(expected) and out['p'] == 1.0
