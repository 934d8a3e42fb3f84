"""Statistics over seeds (numpy/scipy only; no jax), imported as ``from exp.analysis import stats``.

Conventions (docs/design.md, "Statistics conventions"):

- The seed axis comes first in every array. Most functions take 1-D arrays "of shape (seeds,)".
- Every result is a plain dict of Python floats / ints / lists / strings, so it can go straight into
  ``results.json``. Undefined quantities are ``float('nan')``, never an exception, and come with a
  ``"note"`` key that says why. Bad input (empty groups, mismatched lengths, impossible values) raises
  ``ValueError`` with a message naming the problem.
- Two-sample results are always signed a − b.
- scipy does every test that scipy has. Written by hand, because scipy lacks them: Hedges' g (and its
  normal-approximation CI), Holm, IQM / probability of improvement (rliable, Agarwal et al. 2021), and the
  bootstrap loops (vectorized numpy; ``numpy.random.default_rng(seed)`` so results are reproducible).
- Tested paths emit no RuntimeWarnings: where a nan result is intended, the warning that scipy/numpy would
  raise is suppressed inside the function.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

__all__ = [
  'describe',
  'hedges_g',
  'hedges_g_from_summary',
  'compare',
  'compare_from_summary',
  'holm',
  'power_law',
  'logistic_threshold',
  'linear_fit_aic',
  'variance_test',
  'censored_summary',
  'logrank',
  'fisher',
  'iqm',
  'iqm_ci',
  'probability_of_improvement',
]

NAN = float('nan')
_T975 = 0.975


# --------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------


def _as_1d(x: Any, name: str) -> np.ndarray:
  arr = np.asarray(x, dtype=float)
  if arr.ndim == 0:
    arr = arr.reshape(1)
  if arr.ndim != 1:
    raise ValueError(f'{name} must be 1-D (one value per seed), got shape {arr.shape}')
  return arr


def _finite(x: Any, name: str) -> tuple[np.ndarray, int]:
  """1-D float array with non-finite values dropped, and how many were dropped."""
  arr = _as_1d(x, name)
  keep = np.isfinite(arr)
  return arr[keep], int(arr.size - keep.sum())


class _quiet:
  """Silence numpy floating-point and scipy warnings where a nan result is the intended answer."""

  def __enter__(self):
    self._w = warnings.catch_warnings()
    self._w.__enter__()
    warnings.simplefilter('ignore')
    self._e = np.errstate(all='ignore')
    self._e.__enter__()
    return self

  def __exit__(self, *exc):
    self._e.__exit__(*exc)
    return self._w.__exit__(*exc)


def _two_sided_t_p(t: float, df: float) -> float:
  if not (np.isfinite(df) and df > 0) or np.isnan(t):
    return NAN
  return float(2.0 * sps.t.sf(abs(t), df))


def _tcrit(df: float) -> float:
  if not (np.isfinite(df) and df > 0):
    return NAN
  return float(sps.t.ppf(_T975, df))


def _percentile_ci(reps: np.ndarray) -> list[float]:
  reps = reps[np.isfinite(reps)]
  if reps.size == 0:
    return [NAN, NAN]
  lo, hi = np.percentile(reps, [2.5, 97.5])
  return [float(lo), float(hi)]


def _cluster_ci(reps: np.ndarray, estimate: float, n_clusters: int) -> list[float]:
  """95% CI from a bootstrap over few clusters (seeds): estimate ± t(G−1) · SE_boot · √(G/(G−1)).

  Why not the percentile interval: with G = 10 seeds the percentile cluster bootstrap is too narrow (its
  variance is biased by (G−1)/G and its tails by the normal approximation); in the 120-run simulation of
  exp/tools/bootstrap_coverage.py it covered 87% of nominal 95%. The t(G−1) critical value and the
  G/(G−1) factor are the usual small-sample corrections for clustered data (as CR1 with t(G−1))."""
  reps = reps[np.isfinite(reps)]
  if reps.size < 2 or n_clusters < 2 or not math.isfinite(estimate):
    return [NAN, NAN]
  h = _tcrit(n_clusters - 1) * float(np.std(reps, ddof=1)) * math.sqrt(n_clusters / (n_clusters - 1))
  return [estimate - h, estimate + h]


def _hedges_j(df: float) -> float:
  """Small-sample correction J = 1 − 3/(4·df − 1) (Hedges 1981)."""
  if not (df >= 1):
    return NAN
  return 1.0 - 3.0 / (4.0 * df - 1.0)


def _boot_counts(rng: np.random.Generator, n_boot: int, n: int) -> np.ndarray:
  """How often each of n units is drawn in each of n_boot resamples: int array (n_boot, n).

  A resample with replacement is fully described by these counts; using them as weights lets every
  weighted statistic be computed for all replicates at once.
  """
  idx = rng.integers(0, n, size=(n_boot, n))
  flat = idx + (np.arange(n_boot)[:, None] * n)
  return np.bincount(flat.ravel(), minlength=n_boot * n).reshape(n_boot, n)


# --------------------------------------------------------------------------------------------------
# describe, Hedges' g, compare, Holm
# --------------------------------------------------------------------------------------------------


def describe(x: Any) -> dict:
  """Summary of one group of per-seed values.

  Args:
    x: array of shape (seeds,). Non-finite values (diverged / missing runs) are dropped and counted.

  Returns:
    {"n", "n_dropped", "mean", "sd", "sem", "median", "ci95": [lo, hi]} — sd with ddof=1, ci95 is
    mean ± t_{0.975, n−1}·sem. n == 1: sd, sem, ci95 are nan. n == 0: everything nan.
  """
  v, dropped = _finite(x, 'x')
  n = int(v.size)
  out = {'n': n, 'n_dropped': dropped, 'mean': NAN, 'sd': NAN, 'sem': NAN, 'median': NAN, 'ci95': [NAN, NAN]}
  if n == 0:
    out['note'] = 'no finite values'
    return out
  mean = float(np.mean(v))
  out['mean'] = mean
  out['median'] = float(np.median(v))
  if n == 1:
    out['note'] = 'one value: sd, sem and ci95 are undefined'
    return out
  sd = float(np.std(v, ddof=1))
  sem = sd / math.sqrt(n)
  h = _tcrit(n - 1) * sem
  out.update(sd=sd, sem=sem, ci95=[mean - h, mean + h])
  return out


def _pooled_sd(sd_a: float, n_a: int, sd_b: float, n_b: int) -> float:
  df = n_a + n_b - 2
  if df < 1:
    return NAN
  # a group of one contributes (n−1)·var = 0 to the pooled sum of squares, whatever its "sd" is
  ss = (n_a - 1) * (sd_a**2 if n_a > 1 else 0.0) + (n_b - 1) * (sd_b**2 if n_b > 1 else 0.0)
  return math.sqrt(ss / df)


def hedges_g_from_summary(
  mean_a: float, sd_a: float, n_a: int, mean_b: float, sd_b: float, n_b: int
) -> float:
  """Hedges' g from group summaries (sd with ddof=1): d on the pooled SD times J, df = n_a + n_b − 2.

  nan when df < 1 or the pooled SD is 0.
  """
  df = int(n_a) + int(n_b) - 2
  sp = _pooled_sd(float(sd_a), int(n_a), float(sd_b), int(n_b))
  if not (np.isfinite(sp) and sp > 0):
    return NAN
  return float((mean_a - mean_b) / sp * _hedges_j(df))


def hedges_g(a: Any, b: Any) -> float:
  """Hedges' g of a − b.

  Args:
    a, b: arrays of shape (seeds_a,), (seeds_b,); non-finite values dropped.

  Returns:
    float g = d·J with d = (mean_a − mean_b)/pooled SD (ddof=1 weights), df = n_a + n_b − 2,
    J = 1 − 3/(4·df − 1). nan when df < 1 or both groups have zero variance.
  """
  va, _ = _finite(a, 'a')
  vb, _ = _finite(b, 'b')
  if va.size == 0 or vb.size == 0:
    return NAN
  sda = float(np.std(va, ddof=1)) if va.size > 1 else 0.0
  sdb = float(np.std(vb, ddof=1)) if vb.size > 1 else 0.0
  return hedges_g_from_summary(float(va.mean()), sda, va.size, float(vb.mean()), sdb, vb.size)


def _g_ci(g: float, n_a: int, n_b: int) -> list[float]:
  """Normal-approximation 95% CI of g: se = sqrt((n_a+n_b)/(n_a·n_b) + g²/(2(n_a+n_b)))."""
  if not np.isfinite(g):
    return [NAN, NAN]
  se = math.sqrt((n_a + n_b) / (n_a * n_b) + g * g / (2.0 * (n_a + n_b)))
  return [g - 1.96 * se, g + 1.96 * se]


def _welch_df(va: float, n_a: int, vb: float, n_b: int) -> float:
  qa, qb = va / n_a, vb / n_b
  den = qa * qa / (n_a - 1) + qb * qb / (n_b - 1)
  return (qa + qb) ** 2 / den if den > 0 else NAN


def compare_from_summary(mean_a: float, sd_a: float, n_a: int, mean_b: float, sd_b: float, n_b: int) -> dict:
  """Two-sample comparison from published summaries (e.g. to audit a write-up's t and g).

  Args: group means, SDs (ddof=1) and sizes.

  Returns:
    {"n_a", "n_b", "mean_a", "mean_b", "mean_diff", "mean_diff_ci95", "student": {"t","df","p"},
     "welch": {"t","df","p"}, "hedges_g", "hedges_g_ci95"} (a − b), via
    scipy.stats.ttest_ind_from_stats. nan (with "note") when a group has < 2 values or both SDs are 0.
  """
  n_a, n_b = int(n_a), int(n_b)
  if n_a < 1 or n_b < 1:
    raise ValueError(f'compare_from_summary needs n ≥ 1 per group, got n_a={n_a}, n_b={n_b}')
  mean_a, mean_b, sd_a, sd_b = float(mean_a), float(mean_b), float(sd_a), float(sd_b)
  diff = mean_a - mean_b
  out = {
    'n_a': n_a,
    'n_b': n_b,
    'mean_a': mean_a,
    'mean_b': mean_b,
    'mean_diff': diff,
    'mean_diff_ci95': [NAN, NAN],
    'student': {'t': NAN, 'df': NAN, 'p': NAN},
    'welch': {'t': NAN, 'df': NAN, 'p': NAN},
    'hedges_g': NAN,
    'hedges_g_ci95': [NAN, NAN],
  }
  notes = []
  g = hedges_g_from_summary(mean_a, sd_a, n_a, mean_b, sd_b, n_b)
  out['hedges_g'] = g
  out['hedges_g_ci95'] = _g_ci(g, n_a, n_b)
  if min(n_a, n_b) < 2 and (n_a + n_b < 3 or _pooled_sd(sd_a, n_a, sd_b, n_b) == 0):
    notes.append('too few values or no spread: t-tests undefined')
  elif min(n_a, n_b) < 2:
    # A group of one adds no variance term: Student's pooled t (df n_a + n_b − 2) and g stand on the
    # other group's SD alone, as scipy.stats.ttest_ind computes it; Welch needs both variances.
    notes.append("a group has 1 value: Welch undefined; Student t and hedges_g use the other group's SD")
    st = sps.ttest_ind_from_stats(mean_a, sd_a, n_a, mean_b, sd_b, n_b, equal_var=True)
    df_s = float(n_a + n_b - 2)
    out['student'] = {'t': float(st.statistic), 'df': df_s, 'p': float(st.pvalue)}
    h = _tcrit(df_s) * _pooled_sd(sd_a, n_a, sd_b, n_b) * math.sqrt(1 / n_a + 1 / n_b)
    out['mean_diff_ci95'] = [diff - h, diff + h]
  elif sd_a == 0 and sd_b == 0:
    notes.append('both groups have zero variance: t-tests and g undefined')
  else:
    s = sps.ttest_ind_from_stats(mean_a, sd_a, n_a, mean_b, sd_b, n_b, equal_var=True)
    w = sps.ttest_ind_from_stats(mean_a, sd_a, n_a, mean_b, sd_b, n_b, equal_var=False)
    df_s = float(n_a + n_b - 2)
    df_w = _welch_df(sd_a**2, n_a, sd_b**2, n_b)
    out['student'] = {'t': float(s.statistic), 'df': df_s, 'p': float(s.pvalue)}
    out['welch'] = {'t': float(w.statistic), 'df': float(df_w), 'p': float(w.pvalue)}
    se = _pooled_sd(sd_a, n_a, sd_b, n_b) * math.sqrt(1 / n_a + 1 / n_b)
    h = _tcrit(df_s) * se
    out['mean_diff_ci95'] = [diff - h, diff + h]
  if notes:
    out['note'] = '; '.join(notes)
  return out


def _paired_part(va: np.ndarray, vb: np.ndarray, sda: float, sdb: float, notes: list) -> dict:
  """compare()'s paired entries: paired t, the CI of the mean paired difference, g_av. Appends to
  ``notes`` what is undefined."""
  out = {}
  ma, mb, n_a = float(va.mean()), float(vb.mean()), int(va.size)
  d = va - vb
  n = n_a
  out['paired'] = {'t': NAN, 'df': float(n - 1) if n > 1 else NAN, 'p': NAN}
  out['g_av'] = NAN
  out['mean_diff_ci95'] = [NAN, NAN]
  if n < 2:
    notes.append('fewer than 2 pairs: paired t undefined')
  elif np.std(d, ddof=1) == 0:
    notes.append('all paired differences are equal: paired t undefined')
  else:
    with _quiet():
      pt = sps.ttest_rel(va, vb)
    out['paired'] = {'t': float(pt.statistic), 'df': float(pt.df), 'p': float(pt.pvalue)}
    sem_d = float(np.std(d, ddof=1)) / math.sqrt(n)
    h = _tcrit(n - 1) * sem_d
    md = float(d.mean())
    out['mean_diff_ci95'] = [md - h, md + h]
  if n > 1:
    avg_sd = 0.5 * (sda + sdb)
    if avg_sd > 0:
      out['g_av'] = float((ma - mb) / avg_sd * _hedges_j(n - 1))
    else:
      notes.append('both groups have zero variance: g_av undefined')
  return out


def compare(a: Any, b: Any, paired: bool = False) -> dict:
  """Compare two groups of per-seed values, a − b.

  Args:
    a, b: arrays of shape (seeds_a,), (seeds_b,). Non-finite values are dropped (paired: the pair is
      dropped). For paired=True, a[i] and b[i] are the same seed, so the lengths must match.
    paired: also report the paired t-test and g_av.

  Returns:
    {"n_a", "n_b", "n_dropped_a", "n_dropped_b", "mean_a", "mean_b", "mean_diff",
     "mean_diff_ci95": [lo, hi] (Student pooled; paired t when paired=True),
     "student": {"t","df","p"}, "welch": {"t","df","p"}, "mann_whitney": {"u","p"},
     "hedges_g", "hedges_g_ci95": [lo, hi]}
    plus, when paired, "paired": {"t","df","p"} and "g_av" (mean difference over the average of the
    two SDs, times J with df = n − 1), and "note" whenever something is undefined.

  Raises:
    ValueError: a group is empty (after dropping non-finite values), or paired lengths differ.
  """
  ra, rb = _as_1d(a, 'a'), _as_1d(b, 'b')
  if paired:
    if ra.size != rb.size:
      raise ValueError(
        f'paired compare needs equal lengths (one value per seed in each), '
        f'got len(a)={ra.size}, len(b)={rb.size}'
      )
    keep = np.isfinite(ra) & np.isfinite(rb)
    va, vb = ra[keep], rb[keep]
    drop_a = drop_b = int(ra.size - keep.sum())
  else:
    va, drop_a = _finite(ra, 'a')
    vb, drop_b = _finite(rb, 'b')
  if va.size == 0 or vb.size == 0:
    which = 'a' if va.size == 0 else 'b'
    raise ValueError(f'compare: group {which} has no finite values (len(a)={ra.size}, len(b)={rb.size})')

  n_a, n_b = int(va.size), int(vb.size)
  ma, mb = float(va.mean()), float(vb.mean())
  sda = float(np.std(va, ddof=1)) if n_a > 1 else NAN
  sdb = float(np.std(vb, ddof=1)) if n_b > 1 else NAN
  out = compare_from_summary(ma, 0.0 if n_a < 2 else sda, n_a, mb, 0.0 if n_b < 2 else sdb, n_b)
  notes = [out.pop('note')] if 'note' in out else []
  out = {'n_a': n_a, 'n_b': n_b, 'n_dropped_a': drop_a, 'n_dropped_b': drop_b, **out}

  # Recompute t-tests from the raw samples with scipy itself (the summary path is the same maths;
  # this keeps the numbers exactly scipy's on real data).
  if 'student' in out and not notes and min(n_a, n_b) >= 2:
    with _quiet():
      s = sps.ttest_ind(va, vb, equal_var=True)
      w = sps.ttest_ind(va, vb, equal_var=False)
    out['student'] = {'t': float(s.statistic), 'df': float(s.df), 'p': float(s.pvalue)}
    out['welch'] = {'t': float(w.statistic), 'df': float(w.df), 'p': float(w.pvalue)}

  # Mann–Whitney is defined for groups of one; it is undefined (nan) only when every value ties.
  with _quiet():
    mw = sps.mannwhitneyu(va, vb, alternative='two-sided')
  out['mann_whitney'] = {'u': float(mw.statistic), 'p': float(mw.pvalue)}
  if not np.isfinite(out['mann_whitney']['p']):
    notes.append('all values tie: Mann–Whitney undefined')

  if paired:
    out.update(_paired_part(va, vb, sda, sdb, notes))
  if notes:
    out['note'] = '; '.join(dict.fromkeys(notes))
  return out


def holm(pvalues: Sequence[float]) -> list[float]:
  """Holm step-down adjusted p-values.

  Args:
    pvalues: sequence of m p-values (one per comparison of a finding); nan entries stay nan and do
      not count towards m.

  Returns:
    list of adjusted p, same order, monotone in the raw p, capped at 1.
  """
  p = np.asarray(pvalues, dtype=float).ravel()
  out = np.full(p.shape, np.nan)
  ok = np.flatnonzero(~np.isnan(p))
  m = ok.size
  if m == 0:
    return [NAN] * p.size
  order = ok[np.argsort(p[ok], kind='stable')]
  adj = (m - np.arange(m)) * p[order]
  adj = np.minimum(np.maximum.accumulate(adj), 1.0)
  out[order] = adj
  return [float(v) for v in out]


# --------------------------------------------------------------------------------------------------
# power law
# --------------------------------------------------------------------------------------------------


def _weighted_slopes(lx: np.ndarray, ly: np.ndarray, w: np.ndarray) -> np.ndarray:
  """OLS slope of ly on lx for each row of integer weights w (n_boot, n) — duplicated points."""
  sw = w.sum(axis=1)
  mx = (w * lx).sum(axis=1) / sw
  my = (w * ly).sum(axis=1) / sw
  dx = lx[None, :] - mx[:, None]
  sxx = (w * dx * dx).sum(axis=1)
  sxy = (w * dx * (ly[None, :] - my[:, None])).sum(axis=1)
  with np.errstate(all='ignore'):
    return sxy / sxx


def _boot_weights(rng, n_boot: int, n: int, groups: Any, who: str) -> np.ndarray:
  """Bootstrap counts of each of the n points per replicate, shape (n_boot, n), used as weights: points
  resampled with replacement, or whole clusters when ``groups`` gives one cluster id per point."""
  if groups is None:
    return _boot_counts(rng, n_boot, n).astype(float)
  g = np.asarray(groups).ravel()
  if g.size != n:
    raise ValueError(f'{who}: groups needs one id per point ({n}), got {g.size}')
  _, g_inv = np.unique(g, return_inverse=True)
  n_groups = int(g_inv.max()) + 1
  return _boot_counts(rng, n_boot, n_groups)[:, g_inv].astype(float)


def power_law(x: Any, y: Any, groups: Any = None, n_boot: int = 2000, seed: int = 0) -> dict:
  """Fit y = prefactor · x^exponent by OLS of log y on log x.

  Args:
    x, y: arrays of shape (points,), all finite and > 0; x may repeat (several seeds per N).
    groups: optional array of shape (points,), one cluster id per point (e.g. the seed). When given,
      the bootstrap resamples whole clusters with replacement and the CI is estimate ± t(G−1)·SE·√(G/(G−1))
      (see _cluster_ci); otherwise it resamples points and the CI is the percentile interval.
    n_boot, seed: bootstrap size and numpy Generator seed.

  Returns:
    {"exponent", "prefactor", "r2", "exponent_se", "exponent_ci95": [lo, hi] (percentile bootstrap),
     "n", "p_exponent_eq_0", "p_exponent_eq_1", "n_boot_used"}. The p-values are two-sided t-tests from
    the OLS standard error with n − 2 df (nan when n = 2). Bootstrap replicates with < 2 distinct x
    are skipped.

  Raises:
    ValueError: mismatched lengths, non-finite or non-positive values, fewer than 2 distinct x.
  """
  xa, ya = _as_1d(x, 'x'), _as_1d(y, 'y')
  if xa.size != ya.size:
    raise ValueError(f'power_law: x and y need equal lengths, got {xa.size} and {ya.size}')
  for name, v in (('x', xa), ('y', ya)):
    if not np.all(np.isfinite(v)):
      raise ValueError(
        f'power_law: {name} has {int((~np.isfinite(v)).sum())} non-finite values '
        f'(filter censored/diverged runs first)'
      )
    if np.any(v <= 0):
      raise ValueError(
        f'power_law: {name} must be positive for a log-log fit, got {int((v <= 0).sum())} values ≤ 0'
      )
  ux, x_inv = np.unique(xa, return_inverse=True)
  if ux.size < 2:
    raise ValueError(f'power_law: needs at least 2 distinct x values, got {ux.size}')
  lx, ly = np.log(xa), np.log(ya)
  n = int(xa.size)
  df = n - 2
  constant = bool(np.all(ly == ly[0]))
  if constant:  # e.g. SL converging in 2 episodes at every N: slope exactly 0, R² undefined
    slope, icpt, se, r2 = 0.0, float(ly[0]), 0.0, NAN
  else:
    fit = sps.linregress(lx, ly)
    slope, icpt = float(fit.slope), float(fit.intercept)
    se = float(fit.stderr) if df >= 1 else NAN
    r2 = float(fit.rvalue) ** 2

  def p_for(h: float) -> float:
    if not np.isfinite(se):
      return NAN
    if se == 0.0:  # a perfect fit: the slope is known exactly
      return NAN if slope == h else 0.0
    return _two_sided_t_p((slope - h) / se, df)

  w = _boot_weights(np.random.default_rng(seed), n_boot, n, groups, 'power_law')
  # distinct x present in each replicate: total weight per unique x, then count the non-zero ones
  wx = w @ (x_inv[:, None] == np.arange(ux.size)[None, :])
  valid = (wx > 0).sum(axis=1) >= 2
  slopes = np.zeros(int(valid.sum())) if constant else _weighted_slopes(lx, ly, w[valid])
  out = {
    'exponent': slope,
    'prefactor': float(math.exp(icpt)),
    'r2': r2,
    'exponent_se': se,
    'exponent_ci95': _percentile_ci(slopes)
    if groups is None
    else _cluster_ci(slopes, slope, int(np.unique(np.asarray(groups)).size)),
    'n': n,
    'p_exponent_eq_0': p_for(0.0),
    'p_exponent_eq_1': p_for(1.0),
    'n_boot_used': int(np.isfinite(slopes).sum()),
  }
  if constant:
    out['note'] = 'y is constant: the exponent is exactly 0 and R² is undefined'
  elif df < 1:
    out['note'] = '2 points: the OLS standard error and the t-tests are undefined'
  return out


# --------------------------------------------------------------------------------------------------
# thresholds: logistic (binary MLE or 4-parameter least squares) vs linear by AIC
# --------------------------------------------------------------------------------------------------

_W1090 = 2.0 * math.log(9.0)  # 10–90% width of a logistic in units of |s|: ≈ 4.394


def _gaussian_aic(sse: float, n: int, k: int) -> float:
  """n·ln(sse/n) + 2k, k = number of mean parameters (the shared σ is left out of both models)."""
  if sse <= 0:
    return float('-inf')
  return float(n * math.log(sse / n) + 2 * k)


def linear_fit_aic(x: Any, y: Any) -> dict:
  """Straight-line least squares fit, to compare against ``logistic_threshold(kind="4pl")`` by AIC.

  Args:
    x, y: arrays of shape (points,), finite, ≥ 2 distinct x.

  Returns:
    {"slope", "intercept", "sse", "aic", "n"}; aic = n·ln(sse/n) + 2·2.
  """
  xa, ya = _as_1d(x, 'x'), _as_1d(y, 'y')
  _check_xy(xa, ya, 'linear_fit_aic')
  fit = sps.linregress(xa, ya)
  sse = float(np.sum((ya - (fit.intercept + fit.slope * xa)) ** 2))
  n = int(xa.size)
  return {
    'slope': float(fit.slope),
    'intercept': float(fit.intercept),
    'sse': sse,
    'aic': _gaussian_aic(sse, n, 2),
    'n': n,
  }


def _check_xy(xa: np.ndarray, ya: np.ndarray, who: str) -> None:
  if xa.size != ya.size:
    raise ValueError(f'{who}: x and y need equal lengths, got {xa.size} and {ya.size}')
  for name, v in (('x', xa), ('y', ya)):
    if not np.all(np.isfinite(v)):
      raise ValueError(f'{who}: {name} has {int((~np.isfinite(v)).sum())} non-finite values')
  if np.unique(xa).size < 2:
    raise ValueError(f'{who}: needs at least 2 distinct x values, got {np.unique(xa).size}')


def _separation(z: np.ndarray, y: np.ndarray, w: np.ndarray):
  """Per replicate (rows of weights w): (separated?, midpoint between the classes, class counts ok).

  Perfect (or quasi-complete) separation means the logistic MLE does not exist (|slope| → ∞); the
  limit is a step at the midpoint of the gap between the classes.
  """
  on = w > 0
  y1 = (y > 0.5)[None, :]
  big = np.inf
  max0 = np.where(on & ~y1, z, -big).max(axis=1)
  min0 = np.where(on & ~y1, z, big).min(axis=1)
  max1 = np.where(on & y1, z, -big).max(axis=1)
  min1 = np.where(on & y1, z, big).min(axis=1)
  both = np.isfinite(max0) & np.isfinite(max1)
  inc = both & (max0 <= min1)
  dec = both & (max1 <= min0) & ~inc
  mid = np.where(inc, 0.5 * (max0 + min1), np.where(dec, 0.5 * (max1 + min0), np.nan))
  direction = np.where(inc, 1.0, np.where(dec, -1.0, 0.0))
  return inc | dec, mid, direction, both


def _nll_binary(theta: np.ndarray, z: np.ndarray, y: np.ndarray) -> float:
  eta = theta[0] + theta[1] * z
  return float(np.sum(np.logaddexp(0.0, eta) - y * eta))


def _newton_logistic(
  a0: float, b0: float, z: np.ndarray, y: np.ndarray, w: np.ndarray, iters: int = 50
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Weighted logistic-regression MLE for every row of w at once (damped Newton).

  The log-likelihood is concave, so Newton with step halving from the full-data fit converges for
  every replicate whose MLE exists (separated replicates are handled by the caller). Only rows not
  yet converged are updated. Returns (a, b, converged).
  """
  nb = w.shape[0]
  a = np.full(nb, float(a0))
  b = np.full(nb, float(b0))

  def nll(a_, b_, w_):
    eta = a_[:, None] + b_[:, None] * z[None, :]
    return (w_ * (np.logaddexp(0.0, eta) - y[None, :] * eta)).sum(axis=1)

  done = np.zeros(nb, bool)
  for _ in range(iters):
    act = np.flatnonzero(~done)
    if act.size == 0:
      break
    wa, aa, ba = w[act], a[act], b[act]
    p = special.expit(aa[:, None] + ba[:, None] * z[None, :])
    r = wa * (p - y[None, :])
    g0, g1 = r.sum(axis=1), (r * z).sum(axis=1)
    v = wa * p * (1.0 - p)
    h00, h01, h11 = v.sum(axis=1), (v * z).sum(axis=1), (v * z * z).sum(axis=1)
    with np.errstate(all='ignore'):
      det = h00 * h11 - h01 * h01
      da = -(h11 * g0 - h01 * g1) / det
      db = -(-h01 * g0 + h00 * g1) / det
    bad = ~(np.isfinite(da) & np.isfinite(db))
    da, db = np.where(bad, 0.0, da), np.where(bad, 0.0, db)
    # Newton decrement: half of g·H⁻¹·g bounds the remaining gain in log-likelihood
    conv = (-(g0 * da + g1 * db) < 1e-12 * wa.sum(axis=1)) & ~bad
    f0 = nll(aa, ba, wa)
    step = np.ones(act.size)
    moved = conv | bad
    for _ in range(20):
      todo = np.flatnonzero(~moved)
      if todo.size == 0:
        break
      an = aa[todo] + step[todo] * da[todo]
      bn = ba[todo] + step[todo] * db[todo]
      good = nll(an, bn, wa[todo]) <= f0[todo]
      aa[todo[good]], ba[todo[good]] = an[good], bn[good]
      moved[todo[good]] = True
      step[todo[~good]] *= 0.5
    a[act], b[act] = aa, ba
    done[act[conv]] = True
  return a, b, done


def _logistic4(x, lower, upper, c, s):
  return lower + (upper - lower) * special.expit((x - c) / s)


def _logistic4_jac(x, lower, upper, c, s):
  g = special.expit((x - c) / s)
  dg = (upper - lower) * g * (1.0 - g)
  return np.stack([1.0 - g, g, -dg / s, -dg * (x - c) / (s * s)], axis=1)


def _canonical_4pl(p):
  """Report lower ≤ upper; a decreasing curve then has s < 0 (same convention as kind="binary")."""
  lower, upper, c, s = (float(v) for v in p)
  if upper < lower:
    lower, upper, s = upper, lower, -s
  return lower, upper, c, s


def logistic_threshold(
  x: Any,
  y: Any,
  kind: str = 'binary',
  n_boot: int = 1000,
  seed: int = 0,
  groups: Any = None,
  bounds: tuple[float, float] | None = None,
) -> dict:
  """Fit a logistic threshold curve: where does y switch, and how sharply?

  Args:
    x: array of shape (points,), e.g. log10 learning rate or log10 parameter count (one point per
      run; grid values repeat across seeds).
    y: array of shape (points,). kind="binary": 0/1 outcomes (e.g. collapsed or not), modelled as
      P(y=1) = 1/(1+exp(−(x−c)/s)) and fit by maximum likelihood; s < 0 is a decreasing curve.
      kind="4pl": continuous, y = lower + (upper−lower)/(1+exp(−(x−c)/s)) by least squares;
      reported with lower ≤ upper (so s < 0 is a decreasing curve).
    n_boot, seed: percentile bootstrap (replicates whose fit fails or that have a single class / single
      x are skipped).
    groups: optional array of shape (points,), one cluster id per point (the seed). Points of one seed
      share its data and initial parameters, so they are not independent: with groups the bootstrap
      resamples whole seeds and the CI is the small-sample cluster interval of _cluster_ci, as in
      power_law; without, single points and the percentile interval.
    bounds: kind="4pl" only: (low, high) limits of both asymptotes, e.g. (0, 1) for a rate.

  Returns:
    {"kind", "center", "scale", "width_10_90" (= 2·ln 9·|s| ≈ 4.39·|s|), "center_ci95", "width_ci95",
     "lower", "upper", "loglik" (binary) or "sse" (4pl), "aic", "n", "n_boot_used"} and "note" where
    relevant. Perfectly separated binary data (no MLE) give the midpoint between the classes as
    center, scale = width = 0 (the MLE's limit: a step) and a note. Binary data of one class, or
    constant 4pl data, give nan with a note.

  Raises:
    ValueError: unknown kind, mismatched lengths, non-finite values, < 2 distinct x, binary y not in
      {0, 1}.
  """
  if kind not in ('binary', '4pl'):
    raise ValueError(f"logistic_threshold: kind must be 'binary' or '4pl', got {kind!r}")
  xa, ya = _as_1d(x, 'x'), _as_1d(y, 'y')
  _check_xy(xa, ya, 'logistic_threshold')
  if groups is not None and np.asarray(groups).size != xa.size:
    raise ValueError(
      f'logistic_threshold: groups needs one id per point ({xa.size}), got {np.asarray(groups).size}'
    )
  if kind == 'binary':
    if bounds is not None:
      raise ValueError("logistic_threshold: bounds apply to kind='4pl' only")
    return _logistic_binary(xa, ya, n_boot, seed, groups)
  return _logistic_4pl(xa, ya, n_boot, seed, groups, bounds)


def _set_boot_cis(out: dict, centers: np.ndarray, widths: np.ndarray, groups: Any) -> None:
  """The threshold fits' CIs from bootstrap replicates: percentile over points, or the cluster interval
  over seeds (``groups``); a width's CI is cut at 0."""
  if groups is None:
    out['center_ci95'] = _percentile_ci(centers)
    out['width_ci95'] = _percentile_ci(widths)
  else:
    n_clusters = int(np.unique(np.asarray(groups)).size)
    out['center_ci95'] = _cluster_ci(centers, out['center'], n_clusters)
    lo, hi = _cluster_ci(widths, out['width_10_90'], n_clusters)
    out['width_ci95'] = [max(lo, 0.0), hi] if math.isfinite(lo) else [lo, hi]


def _logistic_binary(xa: np.ndarray, ya: np.ndarray, n_boot: int, seed: int, groups: Any = None) -> dict:
  if not np.all((ya == 0) | (ya == 1)):
    raise ValueError("logistic_threshold(kind='binary'): y must contain only 0 and 1")
  n = int(xa.size)
  # fit on standardized x: better conditioned, and the transform back is exact
  mu, sd = float(xa.mean()), float(xa.std())
  z = (xa - mu) / sd
  out = {
    'kind': 'binary',
    'center': NAN,
    'scale': NAN,
    'width_10_90': NAN,
    'center_ci95': [NAN, NAN],
    'width_ci95': [NAN, NAN],
    'lower': 0.0,
    'upper': 1.0,
    'loglik': NAN,
    'aic': NAN,
    'n': n,
    'n_boot_used': 0,
  }
  ones = np.ones((1, n))
  sep, mid, _, both = _separation(z, ya, ones)
  if not both[0]:
    out['note'] = f'all y are {int(ya[0])}: no threshold in this x range'
    return out
  if sep[0]:
    c_z = float(mid[0])
    center = mu + sd * c_z
    # in the limit the points tied at the center sit at p = 0.5, all others at their own label
    ll = float(np.sum(np.isclose(z, c_z)) * math.log(0.5)) + 0.0  # + 0.0: no -0.0
    out.update(
      center=center,
      scale=0.0,
      width_10_90=0.0,
      loglik=ll,
      aic=2 * 2 - 2 * ll,
      note='perfectly separated classes: the MLE is a step (|scale| → 0); center is the '
      'midpoint between the classes, width is only bounded by the gap between them',
    )
    a_hat, b_hat = 0.0, 0.0
  else:
    res = optimize.minimize(
      _nll_binary,
      x0=np.array([special.logit(np.clip(ya.mean(), 0.01, 0.99)), 0.0]),
      args=(z, ya),
      method='trust-exact',
      jac=lambda t, z, y: np.array(
        [np.sum(special.expit(t[0] + t[1] * z) - y), np.sum((special.expit(t[0] + t[1] * z) - y) * z)]
      ),
      hess=lambda t, z, y: _logit_hess(t, z),
      options={'gtol': 1e-8 * n},
    )
    a_hat, b_hat = (float(v) for v in res.x)
    ll = -float(res.fun)
    if b_hat == 0.0:
      out.update(loglik=ll, aic=4 - 2 * ll, note='flat fit: no threshold')
    else:
      s_z = 1.0 / b_hat
      out.update(
        center=mu + sd * (-a_hat / b_hat),
        scale=sd * s_z,
        width_10_90=_W1090 * sd * abs(s_z),
        loglik=ll,
        aic=2 * 2 - 2 * ll,
      )
      if not res.success:
        out['note'] = f'optimizer: {res.message}'

  if not np.isfinite(out['center']):  # no point estimate, so no interval around it
    return out
  # bootstrap over points (or whole seeds), all replicates at once
  w = _boot_weights(np.random.default_rng(seed), n_boot, n, groups, 'logistic_threshold')
  centers, widths = _binary_boot(z, ya, w, a_hat, b_hat)
  centers = mu + sd * centers
  widths = sd * widths
  _set_boot_cis(out, centers, widths, groups)
  out['n_boot_used'] = int(np.isfinite(centers).sum())
  return out


def _binary_boot(z, ya, w, a_hat: float, b_hat: float) -> tuple[np.ndarray, np.ndarray]:
  """Bootstrap replicates of the binary logistic fit on standardized x: (centers, widths), shape
  (n_boot,), from the replicate weights w (n_boot, points); nan where a replicate has one class or
  fewer than 2 distinct x. Separated replicates get the midpoint and width 0; the rest one vectorized
  Newton solve started at the full-data estimate (a_hat, b_hat)."""
  sep_b, mid_b, _, both_b = _separation(z, ya, w)
  z_idx = np.unique(z, return_inverse=True)[1]
  wx = w @ (z_idx[:, None] == np.arange(int(z_idx.max()) + 1)[None, :])
  usable = both_b & ((wx > 0).sum(axis=1) >= 2)
  n_boot = w.shape[0]
  centers = np.full(n_boot, np.nan)
  widths = np.full(n_boot, np.nan)
  centers[usable & sep_b] = mid_b[usable & sep_b]
  widths[usable & sep_b] = 0.0
  fit_rows = np.flatnonzero(usable & ~sep_b)
  if fit_rows.size:
    # the likelihood depends on the data only through the weight of each distinct (x, y) pair,
    # so grid data (x repeated over seeds) shrink to a few columns
    zy, zy_idx = np.unique(np.stack([z, ya], axis=1), axis=0, return_inverse=True)
    zy_idx = zy_idx.ravel()
    w_zy = w[fit_rows] @ (zy_idx[:, None] == np.arange(zy.shape[0])[None, :])
    a_b, b_b, ok = _newton_logistic(a_hat, b_hat, zy[:, 0], zy[:, 1], w_zy)
    ok &= np.isfinite(b_b) & (b_b != 0)
    with np.errstate(all='ignore'):
      centers[fit_rows] = np.where(ok, -a_b / b_b, np.nan)
      widths[fit_rows] = np.where(ok, _W1090 / np.abs(b_b), np.nan)
  return centers, widths


def _logit_hess(t: np.ndarray, z: np.ndarray) -> np.ndarray:
  p = special.expit(t[0] + t[1] * z)
  v = p * (1.0 - p)
  return np.array([[v.sum(), (v * z).sum()], [(v * z).sum(), (v * z * z).sum()]])


def _4pl_boot(xa, ya, idx, best, lb, ub) -> tuple[np.ndarray, np.ndarray]:
  """Bootstrap replicates (``idx``: one array of point indices per replicate) of the 4-parameter
  logistic: (centers, widths), nan for a replicate that fails or leaves the bounds [lb, ub]."""
  n_boot = len(idx)
  centers = np.full(n_boot, np.nan)
  widths = np.full(n_boot, np.nan)
  lb_a, ub_a = np.array(lb), np.array(ub)
  with _quiet():
    for r in range(n_boot):
      xb, yb = xa[idx[r]], ya[idx[r]]
      if np.unique(xb).size < 2 or np.ptp(yb) == 0:
        continue
      try:
        p, _ = optimize.curve_fit(_logistic4, xb, yb, p0=best, jac=_logistic4_jac, method='lm')
      except (RuntimeError, ValueError):
        continue
      p = np.asarray(p, float)
      if p[3] < 0:  # LM may cross s = 0: the same curve with lower/upper swapped
        p = np.array([p[1], p[0], p[2], -p[3]])
      if not (np.all(np.isfinite(p)) and np.all(p >= lb_a) and np.all(p <= ub_a)):
        continue
      centers[r] = p[2]
      widths[r] = _W1090 * p[3]
  return centers, widths


def _4pl_start(xa: np.ndarray, ya: np.ndarray, bounds: Any):
  """Starting values (lower, upper, centre) and parameter bounds (lb, ub) of the 4PL least squares."""
  xr, yr = float(np.ptp(xa)), float(np.ptp(ya))
  ux = np.unique(xa)
  ym = np.array([ya[xa == u].mean() for u in ux])
  lo0, hi0 = float(ym[0]), float(ym[-1])  # asymptote guesses: mean y at the smallest / largest x
  if lo0 == hi0:
    lo0, hi0 = float(ya.min()), float(ya.max())
  half = 0.5 * (lo0 + hi0)
  cross = np.flatnonzero(np.diff(np.sign(ym - half)) != 0)
  if cross.size:
    i = int(cross[0])
    y0, y1 = ym[i], ym[i + 1]
    c0 = float(ux[i] + (half - y0) / (y1 - y0) * (ux[i + 1] - ux[i])) if y1 != y0 else float(ux[i])
  else:
    c0 = float(np.median(xa))
  # s > 0 in the fit (a decreasing curve is lower > upper), made canonical afterwards
  lb = [ya.min() - yr, ya.min() - yr, xa.min() - xr, xr * 1e-4]
  ub = [ya.max() + yr, ya.max() + yr, xa.max() + xr, xr * 10.0]
  if bounds is not None:  # e.g. a success rate: both asymptotes in [0, 1]
    a_lo, a_hi = float(bounds[0]), float(bounds[1])
    lb[0] = lb[1] = a_lo
    ub[0] = ub[1] = a_hi
    lo0, hi0 = min(max(lo0, a_lo), a_hi), min(max(hi0, a_lo), a_hi)
  return lo0, hi0, c0, lb, ub


def _logistic_4pl(
  xa: np.ndarray, ya: np.ndarray, n_boot: int, seed: int, groups: Any = None, bounds: Any = None
) -> dict:
  n = int(xa.size)
  out = {
    'kind': '4pl',
    'center': NAN,
    'scale': NAN,
    'width_10_90': NAN,
    'center_ci95': [NAN, NAN],
    'width_ci95': [NAN, NAN],
    'lower': NAN,
    'upper': NAN,
    'sse': NAN,
    'aic': NAN,
    'n': n,
    'n_boot_used': 0,
  }
  if n < 5:
    raise ValueError(f"logistic_threshold(kind='4pl'): needs at least 5 points for 4 parameters, got {n}")
  if np.ptp(ya) == 0:
    out.update(
      lower=float(ya[0]), upper=float(ya[0]), sse=0.0, aic=float('-inf'), note='y is constant: no threshold'
    )
    return out
  lo0, hi0, c0, lb, ub = _4pl_start(xa, ya, bounds)
  xr = float(np.ptp(xa))
  best, best_sse = None, np.inf
  with _quiet():
    for s0 in (xr / 10.0, xr / 50.0, xr / 3.0):
      try:
        p, _ = optimize.curve_fit(
          _logistic4, xa, ya, p0=[lo0, hi0, c0, s0], bounds=(lb, ub), jac=_logistic4_jac, method='trf'
        )
      except (RuntimeError, ValueError):
        continue
      sse = float(np.sum((ya - _logistic4(xa, *p)) ** 2))
      if sse < best_sse:
        best, best_sse = p, sse
  if best is None:
    out['note'] = '4pl fit failed'
    return out
  lower, upper, c, s = _canonical_4pl(best)
  out.update(
    center=c,
    scale=s,
    width_10_90=_W1090 * abs(s),
    lower=lower,
    upper=upper,
    sse=best_sse,
    aic=_gaussian_aic(best_sse, n, 4),
  )

  # Bootstrap: unbounded Levenberg–Marquardt warm-started at the full-data fit (≈10× faster than the
  # bounded solver); a replicate whose fit fails or leaves the full fit's bounds is skipped.
  rng = np.random.default_rng(seed)
  if groups is None:
    idx = list(rng.integers(0, n, size=(n_boot, n)))
  else:  # whole seeds with replacement: a replicate is the union of the drawn seeds' points
    _, g_inv = np.unique(np.asarray(groups).ravel(), return_inverse=True)
    members = [np.flatnonzero(g_inv == j) for j in range(int(g_inv.max()) + 1)]
    draws = rng.integers(0, len(members), size=(n_boot, len(members)))
    idx = [np.concatenate([members[j] for j in row]) for row in draws]
  centers, widths = _4pl_boot(xa, ya, idx, best, lb, ub)
  _set_boot_cis(out, centers, widths, groups)
  out['n_boot_used'] = int(np.isfinite(centers).sum())
  return out


# --------------------------------------------------------------------------------------------------
# variance
# --------------------------------------------------------------------------------------------------


def variance_test(a: Any, b: Any) -> dict:
  """Do two groups differ in spread? (e.g. a "2× higher variance" claim).

  Args:
    a, b: arrays of shape (seeds_a,), (seeds_b,); non-finite values dropped.

  Returns:
    {"sd_a", "sd_b", "sd_ratio" (a/b), "var_ratio" (a/b), "f": {"f","df1","df2","p"} (two-sided F
     test, p = 2·min(cdf, sf) capped at 1), "levene": {"w","p"} (center='mean'),
     "brown_forsythe": {"w","p"} (Levene with center='median')} and "note" where undefined.

  Raises:
    ValueError: a group has no finite values.
  """
  va, _ = _finite(a, 'a')
  vb, _ = _finite(b, 'b')
  if va.size == 0 or vb.size == 0:
    raise ValueError(f'variance_test: group {"a" if va.size == 0 else "b"} has no finite values')
  notes = []
  na, nb = int(va.size), int(vb.size)
  sda = float(np.std(va, ddof=1)) if na > 1 else NAN
  sdb = float(np.std(vb, ddof=1)) if nb > 1 else NAN
  out = {
    'sd_a': sda,
    'sd_b': sdb,
    'sd_ratio': NAN,
    'var_ratio': NAN,
    'f': {'f': NAN, 'df1': float(na - 1), 'df2': float(nb - 1), 'p': NAN},
    'levene': {'w': NAN, 'p': NAN},
    'brown_forsythe': {'w': NAN, 'p': NAN},
  }
  if min(na, nb) < 2:
    out['note'] = 'a group has fewer than 2 values: variances undefined'
    return out
  if sda > 0 and sdb > 0:
    out['sd_ratio'] = sda / sdb
    fr = (sda / sdb) ** 2
    out['var_ratio'] = fr
    dist = sps.f(na - 1, nb - 1)
    out['f']['f'] = fr
    out['f']['p'] = float(min(1.0, 2.0 * min(dist.cdf(fr), dist.sf(fr))))
  else:  # either group without spread: the ratio is 0 or ∞, so the F test says nothing
    which = ' and '.join(g for g, sd in (('a', sda), ('b', sdb)) if sd == 0)
    notes.append(f'group {which} has zero variance: ratios and F test undefined')
  with _quiet():
    lev = sps.levene(va, vb, center='mean')
    bf = sps.levene(va, vb, center='median')
  out['levene'] = {'w': float(lev.statistic), 'p': float(lev.pvalue)}
  out['brown_forsythe'] = {'w': float(bf.statistic), 'p': float(bf.pvalue)}
  if not np.isfinite(out['levene']['p']) or not np.isfinite(out['brown_forsythe']['p']):
    notes.append('Levene/Brown–Forsythe undefined (no spread in the absolute deviations)')
  if notes:
    out['note'] = '; '.join(notes)
  return out


# --------------------------------------------------------------------------------------------------
# censored data (runs that hit the step budget)
# --------------------------------------------------------------------------------------------------


def _censored(times: Any, observed: Any, who: str):
  t = _as_1d(times, 'times')
  o = np.asarray(observed).ravel()
  if t.size != o.size:
    raise ValueError(f'{who}: times and observed need equal lengths, got {t.size} and {o.size}')
  if t.size == 0:
    raise ValueError(f'{who}: no runs')
  if not np.all(np.isfinite(t)):
    raise ValueError(
      f'{who}: times must be finite (give a censored run its budget as the time and observed=False)'
    )
  if not np.all(np.isin(o, [0, 1, True, False])):
    raise ValueError(f'{who}: observed must be booleans (True = converged / event seen)')
  o = o.astype(bool)
  return t, o, sps.CensoredData.right_censored(t, ~o)


def censored_summary(times: Any, observed: Any) -> dict:
  """Kaplan–Meier summary of times to converge with right-censoring (runs that hit their budget).

  Args:
    times: array of shape (seeds,): time (e.g. episodes) to converge, or the budget if censored.
    observed: bool array of shape (seeds,): True where the run converged, False where censored.

  Returns:
    {"n", "n_converged", "frac_converged", "median", "median_ci95": [lo, hi], "km_times": [...],
     "km_survival": [...]}. The median is the smallest event time with S(t) ≤ 0.5 (midpoint to the
    next event time where S is exactly 0.5, as R's survfit); its CI is where the 95% log-log
    pointwise band of S crosses 0.5 (Brookmeyer–Crowley style). nan where undefined (e.g. half or
    more of the runs censored before S reaches 0.5). km_times are the event times and km_survival
    S(t) just after each.
  """
  t, o, cd = _censored(times, observed, 'censored_summary')
  n, k = int(t.size), int(o.sum())
  out = {
    'n': n,
    'n_converged': k,
    'frac_converged': k / n,
    'median': NAN,
    'median_ci95': [NAN, NAN],
    'km_times': [],
    'km_survival': [],
  }
  if k == 0:
    out['note'] = 'no run converged: survival stays 1, median undefined'
    return out
  with _quiet():
    res = sps.ecdf(cd)
    sf = res.sf
    band = sf.confidence_interval(confidence_level=0.95, method='log-log')
  q = np.asarray(sf.quantiles, float)
  s = np.asarray(sf.probabilities, float)
  lo_b = np.asarray(band.low.probabilities, float)
  hi_b = np.asarray(band.high.probabilities, float)
  ev = np.isin(q, np.unique(t[o]))  # scipy also lists censoring times, where S does not move
  q, s, lo_b, hi_b = q[ev], s[ev], lo_b[ev], hi_b[ev]
  # at S = 0 the log-log band is undefined (nan); it has collapsed onto 0 there
  lo_b = np.where(np.isnan(lo_b) & (s == 0), 0.0, lo_b)
  hi_b = np.where(np.isnan(hi_b) & (s == 0), 0.0, hi_b)
  out['km_times'] = [float(v) for v in q]
  out['km_survival'] = [float(v) for v in s]

  def first_at_or_below(curve):
    hit = np.flatnonzero(curve <= 0.5 + 1e-12)
    return int(hit[0]) if hit.size else None

  i = first_at_or_below(s)
  if i is not None:
    med = float(q[i])
    if abs(s[i] - 0.5) < 1e-12 and i + 1 < q.size:
      med = 0.5 * (med + float(q[i + 1]))
    out['median'] = med
  i_lo, i_hi = first_at_or_below(lo_b), first_at_or_below(hi_b)
  out['median_ci95'] = [
    float(q[i_lo]) if i_lo is not None else NAN,
    float(q[i_hi]) if i_hi is not None else NAN,
  ]
  if i is None:
    out['note'] = 'survival never falls to 0.5 (too many censored runs): median undefined'
  elif i_hi is None:
    out['note'] = 'upper CI of the median undefined (band never falls to 0.5)'
  return out


def logrank(times_a: Any, observed_a: Any, times_b: Any, observed_b: Any) -> dict:
  """Two-sided log-rank test of equal survival (time-to-converge) curves, a vs b.

  Args: times and observed flags (True = converged) of shape (seeds_a,) and (seeds_b,).

  Returns:
    {"statistic", "p"} from scipy.stats.logrank (statistic is scipy's signed z statistic;
    nan with a note when no run converged in either group).
  """
  _, oa, ca = _censored(times_a, observed_a, 'logrank (a)')
  _, ob, cb = _censored(times_b, observed_b, 'logrank (b)')
  if oa.sum() + ob.sum() == 0:
    return {'statistic': NAN, 'p': NAN, 'note': 'no run converged in either group'}
  with _quiet():
    r = sps.logrank(ca, cb, alternative='two-sided')
  return {'statistic': float(r.statistic), 'p': float(r.pvalue)}


def fisher(k_a: int, n_a: int, k_b: int, n_b: int) -> dict:
  """Two-sided Fisher exact test of k_a/n_a vs k_b/n_b (e.g. fraction converged or collapsed).

  Returns: {"odds_ratio", "p"} (odds ratio of a vs b; may be 0 or inf).
  """
  vals = [k_a, n_a, k_b, n_b]
  if any(int(v) != v for v in vals):
    raise ValueError(f'fisher: counts must be integers, got {vals}')
  k_a, n_a, k_b, n_b = (int(v) for v in vals)
  if not (0 <= k_a <= n_a and 0 <= k_b <= n_b) or n_a == 0 or n_b == 0:
    raise ValueError(f'fisher: need 0 ≤ k ≤ n and n > 0, got k_a={k_a}, n_a={n_a}, k_b={k_b}, n_b={n_b}')
  with _quiet():
    r = sps.fisher_exact([[k_a, n_a - k_a], [k_b, n_b - k_b]], alternative='two-sided')
  return {'odds_ratio': float(r.statistic), 'p': float(r.pvalue)}


# --------------------------------------------------------------------------------------------------
# rliable aggregates (Agarwal et al., "Deep RL at the Edge of the Statistical Precipice", 2021)
# --------------------------------------------------------------------------------------------------


def _columns(x: Any, name: str) -> list[np.ndarray]:
  """Finite values per task column: x of shape (runs,) is one task, (runs, tasks) is several."""
  arr = np.asarray(x, dtype=float)
  if arr.ndim == 1:
    arr = arr[:, None]
  if arr.ndim != 2:
    raise ValueError(f'{name} must have shape (runs,) or (runs, tasks), got {arr.shape}')
  cols = [arr[np.isfinite(arr[:, j]), j] for j in range(arr.shape[1])]
  empty = [j for j, c in enumerate(cols) if c.size == 0]
  if empty:
    raise ValueError(f'{name}: task column(s) {empty} have no finite values')
  return cols


def iqm(x: Any) -> float:
  """Interquartile mean: scipy.stats.trim_mean(all values, 0.25) (rliable's IQM).

  Args: x of shape (runs,) or (runs, tasks); non-finite values dropped. Raises ValueError if none.
  """
  v = np.concatenate(_columns(x, 'x'))
  return float(sps.trim_mean(v, 0.25))


def iqm_ci(x: Any, n_boot: int = 2000, seed: int = 0) -> dict:
  """IQM with a 95% stratified percentile-bootstrap CI (runs resampled independently per task).

  Args: x of shape (runs,) or (runs, tasks); non-finite values dropped per task.
  Returns: {"iqm", "ci95": [lo, hi]}.
  """
  cols = _columns(x, 'x')
  rng = np.random.default_rng(seed)
  reps = np.concatenate([c[rng.integers(0, c.size, size=(n_boot, c.size))] for c in cols], axis=1)
  boot = sps.trim_mean(reps, 0.25, axis=1)
  return {'iqm': float(sps.trim_mean(np.concatenate(cols), 0.25)), 'ci95': _percentile_ci(boot)}


def _poi_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """P(a > b) + ½P(a = b) for each row of a (R, n_a) vs b (R, n_b): U_a / (n_a·n_b) via mid-ranks."""
  na, nb = a.shape[1], b.shape[1]
  ranks = sps.rankdata(np.concatenate([a, b], axis=1), axis=1)
  u = ranks[:, :na].sum(axis=1) - na * (na + 1) / 2.0
  return u / (na * nb)


def probability_of_improvement(a: Any, b: Any, n_boot: int = 2000, seed: int = 0) -> dict:
  """Probability of improvement of a over b (rliable): P(a > b) + 0.5·P(a = b) over all run pairs.

  Args:
    a, b: shape (runs_a,) / (runs_b,), or (runs, tasks) with the same number of tasks: per-task
      values averaged over tasks. Larger is better. Non-finite values dropped per task.
    n_boot, seed: stratified bootstrap (a and b resampled independently, per task).

  Returns: {"poi", "ci95": [lo, hi]}.
  """
  ca, cb = _columns(a, 'a'), _columns(b, 'b')
  if len(ca) != len(cb):
    raise ValueError(f'probability_of_improvement: a has {len(ca)} tasks, b has {len(cb)}')
  rng = np.random.default_rng(seed)
  point, boot = [], []
  for xa, xb in zip(ca, cb):
    with _quiet():  # only U is used; its p-value may be undefined when every value ties
      u = float(sps.mannwhitneyu(xa, xb, method='asymptotic').statistic)
    point.append(u / (xa.size * xb.size))
    ra = xa[rng.integers(0, xa.size, size=(n_boot, xa.size))]
    rb = xb[rng.integers(0, xb.size, size=(n_boot, xb.size))]
    boot.append(_poi_rows(ra, rb))
  return {'poi': float(np.mean(point)), 'ci95': _percentile_ci(np.mean(boot, axis=0))}


# --------------------------------------------------------------------------------------------------
# Is ten enough? Power at the observed effect, seeds for 80% power, CI width as seeds are added
# --------------------------------------------------------------------------------------------------


def power_t(effect: float, n_a: int, n_b: int | None = None, alpha: float = 0.05) -> float:
  """Power of the two-sided t-test at standardized effect ``effect`` (scipy's noncentral t).

  Two-sample Student (n_b given): noncentrality d·√(n_a·n_b/(n_a+n_b)), df n_a + n_b − 2 (effect is
  Cohen's d or Hedges' g). Paired / one-sample (n_b None): noncentrality d_z·√n, df n − 1 (effect is the
  mean difference over the SD of the differences). nan for a non-finite effect or too few seeds.
  """
  if not (effect is not None and math.isfinite(effect)):
    return NAN
  if n_b is None:
    df, nc = n_a - 1, effect * math.sqrt(n_a)
  else:
    df, nc = n_a + n_b - 2, effect * math.sqrt(n_a * n_b / (n_a + n_b))
  if df < 1:
    return NAN
  tc = float(sps.t.ppf(1 - alpha / 2, df))
  # P(T' < −tc) written as sf(tc) at −nc: scipy's nct.cdf far in the tail returns nan for large nc.
  return float(sps.nct.sf(tc, df, nc) + sps.nct.sf(tc, df, -nc))


def seeds_for_power(effect: float, paired: bool = False, target: float = 0.8, alpha: float = 0.05) -> float:
  """The smallest number of seeds (per group; pairs when paired) whose power reaches ``target`` at
  ``effect``; inf when the effect is 0 or more than 100 000 seeds would be needed, nan when undefined."""
  if not (effect is not None and math.isfinite(effect)):
    return NAN
  if effect == 0:
    return math.inf

  def power(n: int) -> float:
    return power_t(abs(effect), n, None if paired else n, alpha)

  lo, hi = 2, 2
  while power(hi) < target:  # power grows with n: double, then bisect
    lo, hi = hi, hi * 2
    if hi > 100_000:
      return math.inf
  while lo < hi:
    mid = (lo + hi) // 2
    if power(mid) >= target:
      hi = mid
    else:
      lo = mid + 1
  return float(lo)


def ci_halfwidth_by_seeds(
  a: Any, b: Any, paired: bool = False, ks: Sequence[int] | None = None, n_draws: int = 200, seed: int = 0
) -> dict:
  """Mean 95% CI half-width of the mean difference a − b when only k seeds are used, k = 3 … n.

  For each k, ``n_draws`` subsets of k seeds are drawn without replacement (the same seeds in both groups
  when paired, else k from each group independently) and the CI half-width of the difference is computed
  as the report does (paired t, or Student pooled). Returns {"k": [...], "halfwidth": [...], "n": n}.
  """
  va, vb = _as_1d(a, 'a'), _as_1d(b, 'b')
  if paired:
    keep = np.isfinite(va) & np.isfinite(vb)
    va, vb = va[keep], vb[keep]
  else:
    va, vb = va[np.isfinite(va)], vb[np.isfinite(vb)]
  n = int(min(va.size, vb.size))
  ks = [k for k in (ks or range(3, n + 1)) if 2 <= k <= n]
  rng = np.random.default_rng(seed)

  def subsets(size: int, k: int) -> np.ndarray:  # (draws, k) indices, without replacement within a row
    if k >= size:
      return np.arange(size)[None, :]
    return np.argsort(rng.random((n_draws, size)), axis=1)[:, :k]

  widths = []
  for k in ks:
    ia = subsets(va.size, k)
    if paired:
      d = va[ia] - vb[ia]
      hw = _tcrit(k - 1) * np.std(d, axis=1, ddof=1) / math.sqrt(k)
    else:
      ib = subsets(vb.size, k)
      sa, sb = np.std(va[ia], axis=1, ddof=1), np.std(vb[ib], axis=1, ddof=1)
      # Student's pooled SD with k per group: sqrt(((k-1)sa² + (k-1)sb²) / (2k-2))
      pooled = np.sqrt((sa**2 + sb**2) / 2)  # rows broadcast when one group is used whole
      hw = _tcrit(2 * k - 2) * pooled * math.sqrt(2 / k)
    widths.append(float(np.mean(hw)))
  return {'k': list(ks), 'halfwidth': widths, 'n': n}


def seed_sufficiency(a: Any, b: Any, paired: bool = False, target: float = 0.8, seed: int = 0) -> dict:
  """ "Is ten enough?" for one two-group comparison of per-seed values (a − b).

  Returns {"n_a", "n_b", "paired", "effect" (Hedges' g, or d_z when paired), "power" (at the observed
  effect, alpha 0.05), "seeds_for_80" (per group / pairs), "suffices" (power ≥ target: True / False; None
  when the effect is undefined), "halfwidth_by_k": ci_halfwidth_by_seeds(...)}.
  """
  va, vb = _as_1d(a, 'a'), _as_1d(b, 'b')
  if paired:
    keep = np.isfinite(va) & np.isfinite(vb)
    d = va[keep] - vb[keep]
    n_a = n_b = int(d.size)
    sd = float(np.std(d, ddof=1)) if d.size > 1 else NAN
    effect = float(d.mean() / sd) if sd and math.isfinite(sd) and sd > 0 else NAN
    power = power_t(abs(effect), n_a, None) if math.isfinite(effect) else NAN
  else:
    va, vb = va[np.isfinite(va)], vb[np.isfinite(vb)]
    n_a, n_b = int(va.size), int(vb.size)
    effect = hedges_g(va, vb) if min(n_a, n_b) >= 2 else NAN
    power = power_t(abs(effect), n_a, n_b) if math.isfinite(effect) else NAN
  need = seeds_for_power(effect, paired=paired, target=target)
  return {
    'n_a': n_a,
    'n_b': n_b,
    'paired': bool(paired),
    'effect': effect,
    'power': power,
    'seeds_for_80': need,
    'suffices': None if not math.isfinite(power) else bool(power >= target),
    'halfwidth_by_k': ci_halfwidth_by_seeds(va, vb, paired=paired, seed=seed),
  }
