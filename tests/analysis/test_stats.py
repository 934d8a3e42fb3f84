"""Tests for exp.stats: hand-checked values, agreement with scipy, bad inputs, reproducibility."""

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from exp.analysis import stats

# a defined-nan path must never leak a scipy/numpy warning
pytestmark = pytest.mark.filterwarnings('error::RuntimeWarning', 'error::UserWarning')


def _plain(obj):
  """True if obj is made only of Python dict/list/str/bool/int/float/None (json-serializable)."""
  if isinstance(obj, dict):
    return all(isinstance(k, str) and _plain(v) for k, v in obj.items())
  if isinstance(obj, list):
    return all(_plain(v) for v in obj)
  return obj is None or type(obj) in (str, bool, int, float)


def _check_plain(res):
  assert _plain(res), res
  json.dumps(res)  # NaN allowed (Python's json writes NaN)


def _exact_sample(mean, sd, n, seed):
  z = np.random.default_rng(seed).standard_normal(n)
  z = (z - z.mean()) / z.std(ddof=1)
  return mean + sd * z


# ----------------------------------------------------------------------------- describe


def test_describe_hand_values():
  r = stats.describe([1, 2, 3, 4])
  _check_plain(r)
  assert r['n'] == 4 and r['n_dropped'] == 0
  assert r['mean'] == pytest.approx(2.5)
  assert r['median'] == pytest.approx(2.5)
  assert r['sd'] == pytest.approx(1.2909944, abs=1e-7)
  assert r['sem'] == pytest.approx(1.2909944 / 2, abs=1e-7)
  half = 3.182446 * 1.2909944 / 2
  assert r['ci95'] == pytest.approx([2.5 - half, 2.5 + half], abs=1e-5)


def test_describe_drops_nonfinite_and_small_n():
  r = stats.describe([1.0, np.nan, 3.0, np.inf])
  assert r['n'] == 2 and r['n_dropped'] == 2 and r['mean'] == 2.0
  one = stats.describe([5.0])
  _check_plain(one)
  assert one['n'] == 1 and one['mean'] == 5.0
  assert math.isnan(one['sd']) and math.isnan(one['sem']) and all(map(math.isnan, one['ci95']))
  zero = stats.describe([])
  _check_plain(zero)
  assert zero['n'] == 0 and math.isnan(zero['mean']) and math.isnan(zero['median'])
  assert stats.describe([np.nan])['n_dropped'] == 1


# ----------------------------------------------------------------------------- Hedges' g, compare


def test_hedges_g_by_hand():
  # a = [1,2,3]: mean 2, var 1; b = [2,3,4,5]: mean 3.5, var 5/3; df = 5
  # pooled var = (2·1 + 3·5/3)/5 = 1.4; J = 1 − 3/19 = 16/19
  g = stats.hedges_g([1, 2, 3], [2, 3, 4, 5])
  assert g == pytest.approx(-1.5 / math.sqrt(1.4) * 16 / 19, rel=1e-12)
  assert stats.hedges_g([2, 3, 4, 5], [1, 2, 3]) == pytest.approx(-g)
  assert math.isnan(stats.hedges_g([1, 1], [1, 1]))
  assert math.isnan(stats.hedges_g([1], [2]))


def test_write_up_check_noisy_student():
  # The noisy-student write-up (docs/families/noisy_student.md): 4.097 ± 0.339 vs 3.657 ± 0.173, n = 10 each: t = 3.66, p = 0.0018, g = 1.568
  s = stats.compare_from_summary(4.097, 0.339, 10, 3.657, 0.173, 10)
  _check_plain(s)
  assert s['student']['t'] == pytest.approx(3.656, abs=0.005)
  assert s['student']['df'] == 18
  assert s['student']['p'] == pytest.approx(0.0018, abs=0.0001)
  assert s['hedges_g'] == pytest.approx(1.568, abs=0.005)  # 1.566 from the rounded summaries
  assert stats.hedges_g_from_summary(4.097, 0.339, 10, 3.657, 0.173, 10) == s['hedges_g']
  # the same numbers from raw samples with exactly those moments
  a = _exact_sample(4.097, 0.339, 10, 0)
  b = _exact_sample(3.657, 0.173, 10, 1)
  r = stats.compare(a, b)
  assert r['student']['t'] == pytest.approx(s['student']['t'], rel=1e-9)
  assert r['welch']['df'] == pytest.approx(s['welch']['df'], rel=1e-9)
  assert r['hedges_g'] == pytest.approx(s['hedges_g'], rel=1e-9)
  lo, hi = r['hedges_g_ci95']
  se = math.sqrt(20 / 100 + r['hedges_g'] ** 2 / 40)
  assert (lo, hi) == pytest.approx((r['hedges_g'] - 1.96 * se, r['hedges_g'] + 1.96 * se))
  # per-group CIs from the write-up: [3.85, 4.34] and [3.53, 3.78]
  assert stats.describe(a)['ci95'] == pytest.approx([3.85, 4.34], abs=0.01)
  assert stats.describe(b)['ci95'] == pytest.approx([3.53, 3.78], abs=0.01)


def test_compare_matches_scipy():
  rng = np.random.default_rng(3)
  a = rng.normal(1.0, 1.0, 12)
  b = rng.normal(0.2, 2.0, 9)
  r = stats.compare(a, b)
  _check_plain(r)
  st = sps.ttest_ind(a, b, equal_var=True)
  we = sps.ttest_ind(a, b, equal_var=False)
  mw = sps.mannwhitneyu(a, b, alternative='two-sided')
  assert r['student'] == pytest.approx({'t': st.statistic, 'df': 19.0, 'p': st.pvalue})
  assert r['welch'] == pytest.approx({'t': we.statistic, 'df': we.df, 'p': we.pvalue})
  assert r['mann_whitney'] == pytest.approx({'u': mw.statistic, 'p': mw.pvalue})
  ci = st.confidence_interval(0.95)
  assert r['mean_diff_ci95'] == pytest.approx([ci.low, ci.high])
  assert r['mean_diff'] == pytest.approx(a.mean() - b.mean())
  # Welch–Satterthwaite by hand
  qa, qb = a.var(ddof=1) / 12, b.var(ddof=1) / 9
  assert r['welch']['df'] == pytest.approx((qa + qb) ** 2 / (qa**2 / 11 + qb**2 / 8))
  assert r['hedges_g'] == pytest.approx(stats.hedges_g(a, b))
  assert 'paired' not in r and 'note' not in r


def test_compare_paired_matches_scipy():
  rng = np.random.default_rng(4)
  base = rng.normal(0, 1, 10)
  a = base + 0.5 + rng.normal(0, 0.2, 10)
  b = base
  r = stats.compare(a, b, paired=True)
  _check_plain(r)
  pt = sps.ttest_rel(a, b)
  assert r['paired'] == pytest.approx({'t': pt.statistic, 'df': 9.0, 'p': pt.pvalue})
  ci = pt.confidence_interval(0.95)
  assert r['mean_diff_ci95'] == pytest.approx([ci.low, ci.high])
  j = 1 - 3 / (4 * 9 - 1)
  g_av = (a.mean() - b.mean()) / ((a.std(ddof=1) + b.std(ddof=1)) / 2) * j
  assert r['g_av'] == pytest.approx(g_av)
  assert r['student']['p'] > r['paired']['p']  # pairing removes the shared seed variance


def test_compare_bad_inputs():
  with pytest.raises(ValueError, match='no finite values'):
    stats.compare([], [1, 2])
  with pytest.raises(ValueError, match='no finite values'):
    stats.compare([1, 2], [np.nan, np.inf])
  with pytest.raises(ValueError, match='equal lengths'):
    stats.compare([1, 2, 3], [1, 2], paired=True)


def test_compare_degenerate_inputs_are_defined():
  # A group of one: Student's t as scipy computes it (t = −1.732, df 2), Welch undefined; g on the same
  # pooled SD (the review found t = nan beside a finite g).
  one = stats.compare([1.0], [2.0, 3.0, 4.0])
  _check_plain(one)
  ref = sps.ttest_ind([1.0], [2.0, 3.0, 4.0])
  assert one['student']['t'] == pytest.approx(ref.statistic) == pytest.approx(-math.sqrt(3))
  assert one['student']['df'] == 2 and one['student']['p'] == pytest.approx(ref.pvalue)
  assert math.isnan(one['welch']['p']) and 'Welch undefined' in one['note']
  assert one['mean_diff'] == pytest.approx(-2.0) and one['hedges_g'] == pytest.approx(-2 / 1 * (1 - 3 / 7))
  assert one['mean_diff_ci95'][0] < -2.0 < one['mean_diff_ci95'][1]
  both_single = stats.compare([1.0], [2.0])
  assert math.isnan(both_single['student']['p']) and 'undefined' in both_single['note']
  flat = stats.compare([1.0, 1.0, 1.0], [2.0, 2.0])
  _check_plain(flat)
  assert math.isnan(flat['student']['p']) and math.isnan(flat['hedges_g'])
  assert 'zero variance' in flat['note']
  same = stats.compare([1.0, 1.0], [1.0, 1.0], paired=True)
  _check_plain(same)
  assert math.isnan(same['paired']['p']) and 'paired t undefined' in same['note']
  assert math.isnan(same['g_av']) and math.isnan(same['mean_diff_ci95'][0])


def test_compare_drops_nonfinite():
  r = stats.compare([1.0, 2.0, np.nan, 3.0], [2.0, np.inf, 4.0, 5.0])
  assert (r['n_a'], r['n_b'], r['n_dropped_a'], r['n_dropped_b']) == (3, 3, 1, 1)
  p = stats.compare([1.0, 2.0, np.nan, 3.0, 5.0], [2.0, np.inf, 4.0, 5.0, 5.5], paired=True)
  assert p['n_a'] == p['n_b'] == 3  # pairs 2 and 3 dropped
  ref = sps.ttest_rel([1.0, 3.0, 5.0], [2.0, 5.0, 5.5])
  assert p['paired']['t'] == pytest.approx(ref.statistic)


# ----------------------------------------------------------------------------- Holm


def test_holm():
  assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
  adj = stats.holm([0.5, np.nan, 0.01, 0.4])
  assert math.isnan(adj[1])
  assert adj[0] == pytest.approx(0.8) and adj[2] == pytest.approx(0.03) and adj[3] == pytest.approx(0.8)
  assert stats.holm([0.9, 0.8]) == [1.0, 1.0]
  assert stats.holm([]) == []
  assert all(type(v) is float for v in adj)


# ----------------------------------------------------------------------------- power law


def test_power_law_exact_and_published_means():
  x = np.array([10, 30, 100, 300, 1000.0])
  r = stats.power_law(x, 3 * x**0.9, n_boot=200)
  _check_plain(r)
  assert r['exponent'] == pytest.approx(0.9, abs=1e-12)
  assert r['prefactor'] == pytest.approx(3.0, rel=1e-10)
  assert r['r2'] == pytest.approx(1.0, abs=1e-12)
  # Memorization audit (docs/families/memorization.md): the three published means give exponent 0.879, R² 0.999
  m = stats.power_law([10, 100, 500], [19, 129, 599])
  assert m['exponent'] == pytest.approx(0.879, abs=0.0005)
  assert m['r2'] == pytest.approx(0.999, abs=0.0005)
  fit = sps.linregress(np.log([10, 100, 500]), np.log([19, 129, 599]))
  assert m['exponent_se'] == pytest.approx(fit.stderr)
  t1 = (fit.slope - 1) / fit.stderr
  assert m['p_exponent_eq_1'] == pytest.approx(2 * sps.t.sf(abs(t1), 1))
  assert m['p_exponent_eq_0'] == pytest.approx(fit.pvalue)


def test_power_law_cluster_bootstrap():
  rng = np.random.default_rng(0)
  ns = np.array([10, 30, 100, 300])
  x = np.repeat(ns, 10).astype(float)
  seeds = np.tile(np.arange(10), 4)
  y = 2 * x**0.7 * np.exp(0.3 * rng.standard_normal(x.size))
  r = stats.power_law(x, y, groups=seeds, seed=1)
  lo, hi = r['exponent_ci95']
  assert lo < r['exponent'] < hi
  assert 0.55 < r['exponent'] < 0.85 and r['n'] == 40
  assert r['p_exponent_eq_0'] < 1e-6 and r['p_exponent_eq_1'] < 1e-3
  assert stats.power_law(x, y, groups=seeds, seed=1) == r  # reproducible
  assert stats.power_law(x, y, groups=seeds, seed=2)['exponent_ci95'] != r['exponent_ci95']
  pts = stats.power_law(x, y, seed=1)
  assert pts['exponent'] == r['exponent'] and pts['exponent_ci95'] != r['exponent_ci95']


def test_power_law_bad_inputs():
  with pytest.raises(ValueError, match='positive'):
    stats.power_law([1, 2, 3], [1, 0, 2])
  with pytest.raises(ValueError, match='distinct x'):
    stats.power_law([5, 5, 5], [1, 2, 3])
  with pytest.raises(ValueError, match='non-finite'):
    stats.power_law([1, 2, 3], [1, np.nan, 2])
  with pytest.raises(ValueError, match='equal lengths'):
    stats.power_law([1, 2, 3], [1, 2])
  two = stats.power_law([1, 10], [2, 20], n_boot=50)
  _check_plain(two)
  assert math.isnan(two['p_exponent_eq_1']) and 'note' in two
  # single points resampled: replicates with one distinct x are skipped, not nan
  assert two['n_boot_used'] < 50 and not math.isnan(two['exponent_ci95'][0])


# ----------------------------------------------------------------------------- thresholds


def test_logistic_binary_recovers_center_and_scale():
  rng = np.random.default_rng(0)
  x = np.repeat(np.arange(-4, 0.01, 0.25), 30)  # log10 lr grid × seeds
  y = (rng.random(x.size) < 1 / (1 + np.exp(-(x + 2.0) / 0.2))).astype(float)
  r = stats.logistic_threshold(x, y, seed=0)
  _check_plain(r)
  assert r['kind'] == 'binary' and r['n'] == x.size and (r['lower'], r['upper']) == (0.0, 1.0)
  assert r['center'] == pytest.approx(-2.0, abs=0.05)
  assert r['scale'] == pytest.approx(0.2, abs=0.05)
  assert r['width_10_90'] == pytest.approx(2 * math.log(9) * r['scale'])
  assert r['center_ci95'][0] < r['center'] < r['center_ci95'][1]
  assert r['width_ci95'][0] < r['width_10_90'] < r['width_ci95'][1]
  assert r['aic'] == pytest.approx(4 - 2 * r['loglik'])
  assert stats.logistic_threshold(x, y, seed=0) == r
  # a decreasing curve has a negative scale and the same width
  d = stats.logistic_threshold(x, 1 - y, n_boot=50)
  assert d['scale'] == pytest.approx(-r['scale'], rel=1e-4)
  assert d['center'] == pytest.approx(r['center'], abs=1e-4)


def test_logistic_bootstrap_newton_matches_minimize():
  # the vectorized bootstrap fit must be the same MLE as the scipy fit of the resampled data
  rng = np.random.default_rng(5)
  x = rng.uniform(-1, 1, 60)
  y = (rng.random(60) < 1 / (1 + np.exp(-x / 0.3))).astype(float)
  idx = np.random.default_rng(9).integers(0, 60, 60)
  w = np.bincount(idx, minlength=60)[None, :].astype(float)
  a, b, ok = stats._newton_logistic(0.0, 1.0, x, y, w)
  ref = stats.logistic_threshold(x[idx], y[idx], n_boot=10)
  assert ok[0]
  assert -a[0] / b[0] == pytest.approx(ref['center'], abs=1e-6)
  assert 1 / b[0] == pytest.approx(ref['scale'], rel=1e-6)


def test_logistic_binary_degenerate():
  sep = stats.logistic_threshold([1, 2, 3, 4, 5, 6], [0, 0, 0, 1, 1, 1], n_boot=200)
  _check_plain(sep)
  assert sep['center'] == 3.5 and sep['width_10_90'] == 0.0 and 'separated' in sep['note']
  # every replicate is separated too: its center is the midpoint of its own gap, within [1.5, 5.5]
  assert 1.5 <= sep['center_ci95'][0] <= 3.5 <= sep['center_ci95'][1] <= 5.5
  assert sep['width_ci95'] == [0.0, 0.0]
  one = stats.logistic_threshold([1, 2, 3], [1, 1, 1])
  _check_plain(one)
  assert math.isnan(one['center']) and 'note' in one
  with pytest.raises(ValueError, match='only 0 and 1'):
    stats.logistic_threshold([1, 2, 3], [0, 0.5, 1])
  with pytest.raises(ValueError, match='distinct x'):
    stats.logistic_threshold([1, 1, 1], [0, 1, 0])
  with pytest.raises(ValueError, match='non-finite'):
    stats.logistic_threshold([1, 2, np.nan], [0, 1, 0])
  with pytest.raises(ValueError, match='kind'):
    stats.logistic_threshold([1, 2], [0, 1], kind='probit')


def test_logistic_4pl_and_linear_aic():
  rng = np.random.default_rng(1)
  x = np.repeat(np.linspace(1.5, 4.0, 11), 10)  # log10 params grid × seeds
  y = 0.05 + 0.9 / (1 + np.exp(-(x - 2.8) / 0.1)) + 0.03 * rng.standard_normal(x.size)
  r = stats.logistic_threshold(x, y, kind='4pl', n_boot=200)
  _check_plain(r)
  assert r['center'] == pytest.approx(2.8, abs=0.03)
  assert r['scale'] == pytest.approx(0.1, abs=0.03)
  assert (r['lower'], r['upper']) == pytest.approx((0.05, 0.95), abs=0.03)
  assert r['center_ci95'][0] < r['center'] < r['center_ci95'][1]
  assert r['width_ci95'][0] < r['width_10_90'] < r['width_ci95'][1]
  assert r['aic'] == pytest.approx(x.size * math.log(r['sse'] / x.size) + 8)
  lin = stats.linear_fit_aic(x, y)
  _check_plain(lin)
  assert lin['aic'] == pytest.approx(x.size * math.log(lin['sse'] / x.size) + 4)
  assert r['aic'] < lin['aic'] - 10  # a cliff: the logistic wins clearly
  dec = stats.logistic_threshold(x, 1 - y, kind='4pl', n_boot=20)
  assert dec['scale'] < 0 and dec['lower'] < dec['upper']
  assert dec['center'] == pytest.approx(r['center'], abs=1e-3)
  # on a straight line the extra parameters do not pay
  yl = 0.2 * x + 0.02 * rng.standard_normal(x.size)
  assert stats.linear_fit_aic(x, yl)['aic'] < stats.logistic_threshold(x, yl, kind='4pl', n_boot=20)['aic']
  flat = stats.logistic_threshold(x, np.ones_like(x), kind='4pl')
  _check_plain(flat)
  assert math.isnan(flat['center']) and 'constant' in flat['note']


# ----------------------------------------------------------------------------- variance


def test_variance_test():
  # Noisy-student audit: "2× variance" is 2× the SD, 3.8× the variance, F-test p ≈ 0.06
  a = _exact_sample(4.097, 0.339, 10, 0)
  b = _exact_sample(3.657, 0.173, 10, 1)
  r = stats.variance_test(a, b)
  _check_plain(r)
  assert r['sd_ratio'] == pytest.approx(0.339 / 0.173)
  assert r['var_ratio'] == pytest.approx((0.339 / 0.173) ** 2)
  assert r['f']['p'] == pytest.approx(0.06, abs=0.005)
  assert r['f']['p'] == pytest.approx(2 * sps.f.sf(r['var_ratio'], 9, 9))
  lev = sps.levene(a, b, center='mean')
  bf = sps.levene(a, b, center='median')
  assert r['levene'] == pytest.approx({'w': lev.statistic, 'p': lev.pvalue})
  assert r['brown_forsythe'] == pytest.approx({'w': bf.statistic, 'p': bf.pvalue})
  # the F p-value is two-sided: swapping the groups gives the same p
  assert stats.variance_test(b, a)['f']['p'] == pytest.approx(r['f']['p'])


def test_variance_test_degenerate():
  flat = stats.variance_test([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
  _check_plain(flat)
  assert math.isnan(flat['f']['p']) and 'zero variance' in flat['note']
  one = stats.variance_test([1.0], [1.0, 2.0])
  assert math.isnan(one['f']['p']) and 'note' in one
  with pytest.raises(ValueError):
    stats.variance_test([], [1.0, 2.0])


# ----------------------------------------------------------------------------- censored data


def test_censored_summary():
  # no censoring: KM is the empirical survival function, median the sample median
  r = stats.censored_summary([5, 1, 3, 2, 4], [True] * 5)
  _check_plain(r)
  assert r['km_times'] == [1, 2, 3, 4, 5]
  assert r['km_survival'] == pytest.approx([0.8, 0.6, 0.4, 0.2, 0.0])
  assert r['median'] == 3.0 and r['frac_converged'] == 1.0
  lo, hi = r['median_ci95']
  assert lo <= 3.0 <= hi
  even = stats.censored_summary([1, 2, 3, 4], [1, 1, 1, 1])
  assert even['median'] == 2.5  # S = 0.5 exactly on [2, 3): midpoint, as R's survfit
  # censoring at the budget (10): KM by hand
  t = [2, 4, 4, 6, 10, 10]
  o = [True, True, False, True, False, False]
  c = stats.censored_summary(t, o)
  assert c['n'] == 6 and c['n_converged'] == 3 and c['frac_converged'] == 0.5
  assert c['km_times'] == [2, 4, 6]
  s1 = 5 / 6  # 6 at risk, 1 event
  s2 = s1 * 4 / 5  # 5 at risk at t = 4 (the run censored at 4 still counts), 1 event
  s3 = s2 * 2 / 3  # 3 at risk, 1 event
  assert c['km_survival'] == pytest.approx([s1, s2, s3])
  assert c['median'] == 6.0
  # over half censored: median undefined, defined nan
  u = stats.censored_summary([3, 10, 10, 10], [True, False, False, False])
  _check_plain(u)
  assert math.isnan(u['median']) and 'note' in u
  none = stats.censored_summary([10, 10], [False, False])
  assert none['n_converged'] == 0 and math.isnan(none['median'])
  with pytest.raises(ValueError, match='equal lengths'):
    stats.censored_summary([1, 2], [True])
  with pytest.raises(ValueError, match='no runs'):
    stats.censored_summary([], [])


def test_logrank_and_fisher_match_scipy():
  ta, oa = [1, 2, 3, 4, 5, 10], [1, 1, 1, 1, 1, 0]
  tb, ob = [4, 6, 8, 10, 10, 10], [1, 1, 1, 0, 0, 0]
  r = stats.logrank(ta, oa, tb, ob)
  _check_plain(r)
  ref = sps.logrank(
    sps.CensoredData.right_censored(np.array(ta, float), ~np.array(oa, bool)),
    sps.CensoredData.right_censored(np.array(tb, float), ~np.array(ob, bool)),
  )
  assert r == pytest.approx({'statistic': ref.statistic, 'p': ref.pvalue})
  nan = stats.logrank([10, 10], [0, 0], [10], [0])
  assert math.isnan(nan['p'])
  f = stats.fisher(9, 10, 2, 10)
  _check_plain(f)
  ref = sps.fisher_exact([[9, 1], [2, 8]])
  assert f == pytest.approx({'odds_ratio': ref.statistic, 'p': ref.pvalue})
  assert stats.fisher(0, 10, 10, 10)['odds_ratio'] == 0.0
  with pytest.raises(ValueError):
    stats.fisher(11, 10, 2, 10)


# ----------------------------------------------------------------------------- rliable aggregates


def test_iqm_and_ci():
  assert stats.iqm(np.arange(1, 9)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
  x = np.random.default_rng(2).normal(size=(10, 3))
  assert stats.iqm(x) == pytest.approx(sps.trim_mean(x.ravel(), 0.25))
  r = stats.iqm_ci(x, seed=0)
  _check_plain(r)
  assert r['iqm'] == stats.iqm(x)
  assert r['ci95'][0] < r['iqm'] < r['ci95'][1]
  assert stats.iqm_ci(x, seed=0) == r and stats.iqm_ci(x, seed=1) != r
  one = stats.iqm_ci(x[:, 0])
  assert one['ci95'][0] < one['iqm'] < one['ci95'][1]
  with pytest.raises(ValueError):
    stats.iqm([np.nan])


def test_probability_of_improvement():
  a = np.array([3.0, 4.0, 5.0])
  b = np.array([1.0, 2.0, 3.0])
  r = stats.probability_of_improvement(a, b)
  _check_plain(r)
  # pairs: 9 comparisons, 8 wins, 1 tie (3 vs 3) → (8 + 0.5)/9
  assert r['poi'] == pytest.approx(8.5 / 9)
  assert r['ci95'][0] <= r['poi'] <= r['ci95'][1]
  assert stats.probability_of_improvement(b, a)['poi'] == pytest.approx(0.5 / 9)
  assert stats.probability_of_improvement(a, a)['poi'] == pytest.approx(0.5)
  rng = np.random.default_rng(0)
  xa, xb = rng.normal(0.5, 1, (10, 2)), rng.normal(0, 1, (12, 2))
  p = stats.probability_of_improvement(xa, xb, seed=3)
  per_task = [sps.mannwhitneyu(xa[:, j], xb[:, j]).statistic / 120 for j in range(2)]
  assert p['poi'] == pytest.approx(np.mean(per_task))
  assert p == stats.probability_of_improvement(xa, xb, seed=3)
  with pytest.raises(ValueError, match='tasks'):
    stats.probability_of_improvement(xa, xb[:, :1])


def test_a_findings_statistics_are_fast():
  import time

  rng = np.random.default_rng(0)
  a, b = rng.normal(size=10), rng.normal(size=10)
  x = np.repeat(np.arange(-4, 0.01, 0.25), 10)
  y = (rng.random(x.size) < 1 / (1 + np.exp(-(x + 2) / 0.2))).astype(float)
  t0 = time.perf_counter()
  comps = [stats.compare(a, b, paired=True) for _ in range(4)]
  stats.holm([c['student']['p'] for c in comps])
  stats.variance_test(a, b)
  stats.power_law(
    np.repeat([10, 100, 500.0], 10), np.exp(rng.normal(size=30)) * 50, groups=np.tile(np.arange(10), 3)
  )
  stats.logistic_threshold(x, y)
  stats.iqm_ci(a)
  stats.probability_of_improvement(a, b)
  assert time.perf_counter() - t0 < 2.0  # generous: 2 shared cores


def test_warning_free_edge_cases_are_json():
  # every small/degenerate combination either raises ValueError or gives a plain, defined result
  cases = [[1.0], [1.0, 1.0], [1.0, 2.0], [np.nan, 1.0], [3.0, 3.0, 3.0], [1, 2, 3, 4, 5]]
  for a in cases:
    _check_plain(stats.describe(a))
    for b in cases:
      for paired in (False, True):
        try:
          _check_plain(stats.compare(a, b, paired=paired))
        except ValueError as e:
          assert paired and 'equal lengths' in str(e)
      _check_plain(stats.variance_test(a, b))
      _check_plain(stats.probability_of_improvement(a, b, n_boot=20))
  flat = stats.logistic_threshold([1, 1, 2, 2], [0, 1, 0, 1], n_boot=20)
  _check_plain(flat)
  assert math.isnan(flat['center']) and math.isnan(flat['center_ci95'][0]) and 'note' in flat


def test_power_law_constant_y_is_exactly_flat():
  from exp.analysis import stats as st

  r = st.power_law([10, 10, 100, 100, 500], [2, 2, 2, 2, 2], groups=[0, 1, 0, 1, 0])
  assert r['exponent'] == 0.0 and r['exponent_ci95'] == [0.0, 0.0]
  assert math.isnan(r['r2']) and 'constant' in r['note']
  assert r['p_exponent_eq_1'] == 0.0


def test_variance_test_is_symmetric_when_a_group_has_no_spread():
  """The review found F = 0, p = 0 when a was constant but nan when b was: both are undefined."""
  for a, b in (([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]), ([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])):
    r = stats.variance_test(a, b)
    assert math.isnan(r['f']['f']) and math.isnan(r['f']['p']) and math.isnan(r['var_ratio'])
    assert 'zero variance' in r['note']


# ----------------------------------------------------------------------------- is ten enough?


def test_power_matches_published_values():
  # G*Power 3.1, two-tailed, alpha 0.05: d = 1, n = 10 + 10 -> 0.5620066; d = 0.5, 64 + 64 -> 0.8014596;
  # paired d_z = 0.5, n = 34 -> 0.8077775; sample sizes for 80%: 64 (d 0.5), 17 (d 1), 34 pairs (d_z 0.5).
  assert stats.power_t(1.0, 10, 10) == pytest.approx(0.5620066, abs=1e-6)
  assert stats.power_t(0.5, 64, 64) == pytest.approx(0.8014596, abs=1e-6)
  assert stats.power_t(0.5, 34) == pytest.approx(0.8077775, abs=1e-6)
  assert stats.seeds_for_power(0.5) == 64 and stats.seeds_for_power(1.0) == 17
  assert stats.seeds_for_power(-0.5, paired=True) == 34
  assert stats.seeds_for_power(0.0) == math.inf and math.isnan(stats.power_t(float('nan'), 10, 10))


def test_power_by_simulation():
  rng = np.random.default_rng(0)
  a, b = rng.normal(0.8, 1, (4000, 8)), rng.normal(0, 1, (4000, 8))
  hits = sps.ttest_ind(a, b, axis=1).pvalue < 0.05
  assert hits.mean() == pytest.approx(stats.power_t(0.8, 8, 8), abs=0.025)


def test_seed_sufficiency_and_ci_width_by_seeds():
  rng = np.random.default_rng(1)
  a, b = rng.normal(2.0, 1.0, 10), rng.normal(0.0, 1.0, 10)
  s = stats.seed_sufficiency(a, b)
  assert s['effect'] == pytest.approx(stats.hedges_g(a, b)) and s['suffices'] is True
  assert s['power'] == pytest.approx(stats.power_t(abs(s['effect']), 10, 10))
  hw = s['halfwidth_by_k']
  assert hw['k'] == list(range(3, 11)) and hw['n'] == 10
  # with all 10 seeds the half-width is the full-data Student CI's; it shrinks as seeds are added
  full = stats.compare(a, b)['mean_diff_ci95']
  assert hw['halfwidth'][-1] == pytest.approx((full[1] - full[0]) / 2)
  assert hw['halfwidth'][0] > hw['halfwidth'][3] > hw['halfwidth'][-1]
  weak = stats.seed_sufficiency(a, a + rng.normal(0.05, 1.0, 10), paired=True)
  assert weak['paired'] and weak['suffices'] is False and weak['seeds_for_80'] > 10
  assert stats.seed_sufficiency([1.0, 1.0], [1.0, 1.0], paired=True)['suffices'] is None


# ----------------------------------------------------------------------------- bootstrap by seed


def _seed_effect_data(rng, n_seeds=10):
  """A binary threshold at x = 0 on a grid of 12 x's per seed, with a per-seed shift of the threshold
  (sd 0.3): points of one seed share it, so they are not independent."""
  x = np.tile(np.linspace(-1.5, 1.5, 12), n_seeds)
  g = np.repeat(np.arange(n_seeds), 12)
  shift = rng.normal(0, 0.3, n_seeds)[g]
  y = (rng.random(x.size) < 1 / (1 + np.exp(-(x - shift) / 0.15))).astype(float)
  return x, y, g


def test_threshold_bootstrap_by_seed_is_wider_than_by_point():
  x, y, g = _seed_effect_data(np.random.default_rng(3))
  by_point = stats.logistic_threshold(x, y, n_boot=400, seed=0)
  by_seed = stats.logistic_threshold(x, y, n_boot=400, seed=0, groups=g)
  assert by_seed['center'] == by_point['center']  # the point estimate does not depend on the bootstrap
  w = lambda f: f['center_ci95'][1] - f['center_ci95'][0]
  assert w(by_seed) > w(by_point)
  # without groups the draws are the old ones (no number changed for callers that pass none)
  again = stats.logistic_threshold(x, y, n_boot=400, seed=0, groups=None)
  assert again['center_ci95'] == by_point['center_ci95']


def test_threshold_bootstrap_by_seed_covers_with_a_seed_effect():
  """A small coverage simulation (scripts/bootstrap_coverage.py runs a larger one): the seed bootstrap's
  95% CI of the threshold covers the true centre (0) in most of 40 simulated experiments."""
  rng = np.random.default_rng(11)
  cover = []
  for _ in range(40):
    x, y, g = _seed_effect_data(rng)
    lo, hi = stats.logistic_threshold(x, y, n_boot=200, seed=0, groups=g)['center_ci95']
    cover.append(lo <= 0 <= hi)
  assert np.mean(cover) >= 0.85


def test_4pl_asymptotes_of_a_rate_stay_in_0_1():
  # A rate that is still rising at the smallest x: an unbounded fit extrapolates its lower asymptote
  # below 0 (capacity_cliff's −17%).
  x = np.repeat(np.linspace(0, 3, 10), 3)
  y = np.clip(np.repeat(np.array([0.02, 0.03, 0.06, 0.12, 0.3, 0.55, 0.8, 0.92, 0.97, 0.99]), 3), 0, 1)
  y = y + np.tile([-0.01, 0.0, 0.01], 10)
  y = np.clip(y, 0, 1)
  free = stats.logistic_threshold(x, y, kind='4pl', n_boot=50)
  rate = stats.logistic_threshold(x, y, kind='4pl', n_boot=50, bounds=(0, 1))
  assert 0.0 <= rate['lower'] <= rate['upper'] <= 1.0
  assert free['lower'] < rate['lower'] or free['lower'] >= 0
  with pytest.raises(ValueError):
    stats.logistic_threshold(x, (y > 0.5).astype(float), kind='binary', bounds=(0, 1))
