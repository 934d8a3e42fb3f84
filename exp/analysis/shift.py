"""Dataset-shift diagnostics on the host (numpy/scipy): does a training split differ in distribution from
the set a model is evaluated on? Reusable by any family; the self-modifying family applies them to its
random and tail validation splits (docs/families/self_modifying.md).

- ``class_prior_tv``: total variation between two label distributions, ½ Σ_c |p_a(c) − p_b(c)|.
- ``auc``: the area under the ROC curve of scores of positives vs negatives, U / (n_pos · n_neg) from
  scipy's Mann–Whitney U (ties count one half).
- ``domain_auc``: a domain classifier — L2-regularised logistic regression (scipy.optimize, since
  scikit-learn is not a dependency) trained to tell sample a from sample b, scored on held-out folds
  (cross-fitting, so an unshifted pair gives AUC ≈ 0.5 rather than an overfitted one), with the one-sided
  Mann–Whitney p-value of the held-out scores.
- ``mmd_rbf``: the unbiased squared maximum mean discrepancy with a Gaussian (RBF) kernel (Gretton et al.
  2012), bandwidth by the median heuristic, and a permutation p-value.
All take samples as arrays (n, features) or labels as (n,) integers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.optimize as spo
import scipy.stats as sps


def class_prior_tv(labels_a: Any, labels_b: Any, num_classes: int) -> float:
  """½ Σ_c |p_a(c) − p_b(c)| of the empirical class frequencies (0 = same prior, 1 = disjoint)."""
  pa = np.bincount(np.asarray(labels_a, int), minlength=num_classes) / max(len(labels_a), 1)
  pb = np.bincount(np.asarray(labels_b, int), minlength=num_classes) / max(len(labels_b), 1)
  return float(0.5 * np.abs(pa - pb).sum())


def auc(pos: Any, neg: Any) -> float:
  """P(score of a positive > score of a negative) + ½ P(tie), via scipy's Mann–Whitney U."""
  pos, neg = np.asarray(pos, float), np.asarray(neg, float)
  if pos.size == 0 or neg.size == 0:
    return math.nan
  return float(sps.mannwhitneyu(pos, neg).statistic / (pos.size * neg.size))


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
  """Weights (features + 1,) of an L2-regularised logistic regression (bias unpenalised)."""
  xb = np.hstack([x, np.ones((x.shape[0], 1))])
  pen = np.full(xb.shape[1], l2)
  pen[-1] = 0.0

  def f(w):
    z = xb @ w
    loss = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(pen * w * w)
    grad = xb.T @ (1.0 / (1.0 + np.exp(-z)) - y) / len(y) + pen * w
    return loss, grad

  return spo.minimize(f, np.zeros(xb.shape[1]), jac=True, method='L-BFGS-B').x


def domain_auc(xa: Any, xb: Any, folds: int = 2, l2: float = 1e-2, seed: int = 0) -> dict:
  """Held-out AUC of a logistic domain classifier telling ``xa`` (label 1) from ``xb`` (label 0).

  Each of ``folds`` folds is scored by a classifier fitted on the others; the AUC and the one-sided
  Mann–Whitney p-value (scores of a greater than of b) are computed over all held-out scores.
  Returns {'auc', 'p', 'n_a', 'n_b'}.
  """
  xa, xb = np.asarray(xa, float), np.asarray(xb, float)
  x = np.vstack([xa, xb])
  y = np.r_[np.ones(len(xa)), np.zeros(len(xb))]
  mu, sd = x.mean(0), x.std(0) + 1e-12
  x = (x - mu) / sd
  fold = np.random.default_rng(seed).permutation(len(y)) % folds
  scores = np.empty(len(y))
  for k in range(folds):
    w = _fit_logistic(x[fold != k], y[fold != k], l2)
    scores[fold == k] = x[fold == k] @ w[:-1] + w[-1]
  pos, neg = scores[y == 1], scores[y == 0]
  p = float(sps.mannwhitneyu(pos, neg, alternative='greater').pvalue)
  return {'auc': auc(pos, neg), 'p': p, 'n_a': len(xa), 'n_b': len(xb)}


def _sq_dists(x: np.ndarray) -> np.ndarray:
  sq = np.sum(x * x, axis=1)
  return np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)


def mmd_rbf(xa: Any, xb: Any, bandwidth: float | None = None, n_perm: int = 200, seed: int = 0) -> dict:
  """Unbiased MMD² between samples ``xa`` (n, f) and ``xb`` (m, f) with k(x, y) = exp(−‖x − y‖² / (2σ²)).

  σ = ``bandwidth`` or the median pairwise distance of the pooled sample. The p-value is
  (1 + #{permutations with MMD² ≥ observed}) / (1 + n_perm), group labels permuted over the pooled sample.
  Returns {'mmd2', 'p', 'bandwidth', 'n_perm'}.
  """
  xa, xb = np.asarray(xa, float), np.asarray(xb, float)
  n, m = len(xa), len(xb)
  if n < 2 or m < 2:
    raise ValueError(f'mmd_rbf needs at least 2 points per sample, got {n} and {m}')
  d2 = _sq_dists(np.vstack([xa, xb]))
  if bandwidth is None:
    off = d2[np.triu_indices(n + m, 1)]
    bandwidth = float(np.sqrt(np.median(off))) or 1.0
  k = np.exp(-d2 / (2.0 * bandwidth**2))
  k0 = k - np.diag(np.diag(k))  # the unbiased estimate leaves out the i = j terms

  def stat(a: np.ndarray) -> np.ndarray:  # a: (P, n + m) 0/1 membership of sample a
    b = 1.0 - a
    kxx = np.einsum('pi,ij,pj->p', a, k0, a) / (n * (n - 1))
    kyy = np.einsum('pi,ij,pj->p', b, k0, b) / (m * (m - 1))
    kxy = np.einsum('pi,ij,pj->p', a, k, b) / (n * m)
    return kxx + kyy - 2.0 * kxy

  first = np.r_[np.ones(n), np.zeros(m)]
  observed = float(stat(first[None])[0])
  rng = np.random.default_rng(seed)
  perms = np.stack([rng.permutation(first) for _ in range(n_perm)]) if n_perm else np.zeros((0, n + m))
  null = stat(perms) if n_perm else np.zeros(0)
  p = float((1 + np.sum(null >= observed)) / (1 + n_perm))
  return {'mmd2': observed, 'p': p, 'bandwidth': float(bandwidth), 'n_perm': int(n_perm)}
