"""Analysis of the capacity cliff (host side, numpy/scipy): threshold fits, crossings, mirage check, audit.

``analyze(runs, config)`` turns the run records into per-width summaries, 4-parameter logistic fits in
log10(active params) (exact success, per-token accuracy, permissive success, acc^L, and exact success per
prefix depth; asymptotes bounded to [0, 1] because every metric is a rate, bootstrap CIs resampling whole
seeds because all widths of a seed share its data and initial draws), paired comparisons of every width with
the largest, the model-free crossings of the claim's levels, the paired seed bootstrap of the mirage check,
per-seed fits for the "is ten enough?" numbers, the audit numbers, and the findings
(exp/families/capacity_cliff/findings.py). See docs/families/capacity_cliff.md.
"""

from __future__ import annotations

import math

import numpy as np

from exp.analysis import findings as F
from exp.analysis import stats
from exp.core.workdir import json_safe
from exp.tasks import dyck
from models.masked import active_params

# The write-up's numbers (the claim; inputs to the report, never results).
CLAIM = {'below': 0.40, 'above': 0.95}
METRICS = ('exact', 'success', 'token_acc')
MIN_FIT_WIDTHS = 5  # a 4-parameter logistic needs at least this many distinct model sizes
RATE_BOUNDS = (0.0, 1.0)  # every metric here is a rate: the 4PL asymptotes stay in [0, 1]


def _fit(x, y, groups, n_boot, seed):
  """4PL in log10 params (asymptotes in [0, 1], bootstrap over whole seeds ``groups``) plus the linear
  alternative; None when there are fewer than MIN_FIT_WIDTHS distinct widths."""
  x, y = np.asarray(x, float), np.asarray(y, float)
  if np.unique(x).size < MIN_FIT_WIDTHS:
    return None
  f = stats.logistic_threshold(
    x, y, kind='4pl', n_boot=n_boot, seed=seed, groups=np.asarray(groups), bounds=RATE_BOUNDS
  )
  lin = stats.linear_fit_aic(x, y)
  f['linear'] = lin
  f['delta_aic'] = (lin['aic'] - f['aic']) if np.isfinite(f['aic']) else float('nan')  # > 0: 4PL better
  return f


def fit_failed(f) -> str | None:
  """Why a threshold fit gives no centre (a reason in words), or None when it gives one."""
  if not f:
    return f'fewer than {MIN_FIT_WIDTHS} widths'
  if f.get('center') is None or not np.isfinite(f['center']):
    return str(f.get('note') or '4PL fit failed')
  return None


def analyze(runs: list[dict], config) -> dict:
  runs = [r for r in runs if r['arm'] == 'gru']
  widths = sorted(set(int(r['grid']['width']) for r in runs))
  seeds = sorted(set(r['seed'] for r in runs))
  ok = [r for r in runs if r['status'] == 'ok']
  diverged = [r for r in runs if r['status'] == 'diverged']
  per_width = _per_width(ok, diverged, widths, seeds, config.max_depth)
  fits, depth_fits = _threshold_fits(per_width, widths, seeds, config)
  analysis = {
    'widths': widths,
    'seeds': seeds,
    'n_runs': len(runs),
    'n_diverged': len(diverged),
    'per_width': per_width,
    'fits': fits,
    'depth_fits': depth_fits,
    'comparisons': _comparisons(per_width, widths),
    'cliff_decades': config.cliff_decades,
    'crossings': _crossings(per_width, widths, (CLAIM['below'], CLAIM['above'])),
    'mirage': _mirage_bootstrap(per_width, widths, config.n_boot_seeds, config.seed),
    'seed_fits': _seed_fits(per_width, widths, seeds),
  }
  analysis['audit'] = _audit(analysis)
  analysis['pair'] = _headline_pair(analysis)
  analysis = json_safe(analysis)
  from exp.families.capacity_cliff.findings import build_findings  # findings reads analysis' helpers

  analysis['findings'] = build_findings(analysis, config)
  analysis['headline'] = F.headline_of(analysis['findings'][0])
  return analysis


def _per_width(ok: list, diverged: list, widths: list, seeds: list, md: int) -> dict:
  """Per-run values (seed-major within width) and per-width summaries."""
  V = dyck.VOCAB
  per_width = {}
  for w in widths:
    rs = {r['seed']: r for r in ok if int(r['grid']['width']) == w}
    vals = {m: np.array([rs[s]['metrics'][m] if s in rs else np.nan for s in seeds], float) for m in METRICS}
    L = np.array([rs[s]['metrics']['mean_target_len'] if s in rs else np.nan for s in seeds], float)
    vals['predicted'] = vals['token_acc'] ** L
    by_depth = np.array(
      [rs[s]['metrics']['exact_by_depth'] if s in rs else [np.nan] * md for s in seeds], float
    )
    per_width[str(w)] = {
      'width': w,
      'params': active_params(w, V),
      'log10_params': math.log10(active_params(w, V)),
      'n_ok': len(rs),
      'n_diverged': sum(1 for r in diverged if int(r['grid']['width']) == w),
      'describe': {m: stats.describe(vals[m]) for m in (*METRICS, 'predicted')},
      'by_depth': [stats.describe(by_depth[:, d]) for d in range(md)],
      'values': {m: vals[m].tolist() for m in (*METRICS, 'predicted')},
      'exact_by_depth': by_depth.tolist(),
      'inactive_max_abs': max((float(rs[s]['metrics']['inactive_max_abs']) for s in rs), default=None),
    }
  return per_width


def _threshold_fits(per_width: dict, widths: list, seeds: list, config) -> tuple[dict, dict]:
  """4PL fits over per-run points (finite values only): per metric (seed-bootstrap CIs for exact success and
  per-token accuracy) and per prefix depth (exact success, seed-bootstrap CIs of n_boot_seeds resamples)."""
  xs = {m: [] for m in (*METRICS, 'predicted')}
  ys = {m: [] for m in xs}
  gs = {m: [] for m in xs}
  for w in widths:
    c = per_width[str(w)]
    for m in xs:
      for s, v in zip(seeds, c['values'][m]):
        if np.isfinite(v):
          xs[m].append(c['log10_params'])
          ys[m].append(v)
          gs[m].append(s)
  fits = {
    m: _fit(xs[m], ys[m], gs[m], config.n_boot if m in ('exact', 'token_acc') else 0, config.seed) for m in xs
  }
  depth_fits = {}
  for d in range(config.max_depth):
    x, y, g = [], [], []
    for w in widths:
      for s, v in zip(seeds, per_width[str(w)]['exact_by_depth']):
        if np.isfinite(v[d]):
          x.append(per_width[str(w)]['log10_params'])
          y.append(v[d])
          g.append(s)
    depth_fits[str(d + 1)] = _fit(x, y, g, config.n_boot_seeds, config.seed)
  return fits, depth_fits


def _comparisons(per_width: dict, widths: list) -> list:
  """Every width vs the largest, paired by seed (exact success), Holm-adjusted."""
  comparisons = []
  if len(widths) >= 2:
    top = per_width[str(widths[-1])]
    for w in widths[:-1]:
      a = np.array(per_width[str(w)]['values']['exact'])
      b = np.array(top['values']['exact'])
      if np.isfinite(a).sum() >= 1 and np.isfinite(b).sum() >= 1:
        comparisons.append(
          {
            'label': f'w={w} vs w={widths[-1]}',
            'a': w,
            'b': widths[-1],
            'cmp': stats.compare(a, b, paired=True),
          }
        )
  for c, p in zip(comparisons, stats.holm([c['cmp']['student']['p'] for c in comparisons])):
    c['holm_p'] = p
  return comparisons


def _crossings(per_width: dict, widths: list, levels) -> dict:
  """Model-free: the log10 params where mean exact success first reaches each level (linear interpolation
  between adjacent widths), and the distance between the two levels in decades (None if not reached)."""
  x = np.array([per_width[str(w)]['log10_params'] for w in widths])
  y = np.array([per_width[str(w)]['describe']['exact']['mean'] for w in widths], float)
  out = {}
  for lev in levels:
    hit = None
    if y.size and np.isfinite(y[0]) and y[0] >= lev:
      hit = 'below_grid'
    else:
      for i in range(1, len(x)):
        if np.isfinite(y[i - 1]) and np.isfinite(y[i]) and y[i - 1] < lev <= y[i]:
          hit = float(x[i - 1] + (lev - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1]))
          break
    out[f'{lev:g}'] = hit
  a, b = (out[f'{lev:g}'] for lev in levels)
  out['decades'] = b - a if isinstance(a, float) and isinstance(b, float) else None
  return out


def _mirage_bootstrap(per_width: dict, widths: list, n_boot: int, seed: int) -> dict | None:
  """Paired bootstrap over seeds of (per-token width − exact width) and of the center shift: each replicate
  resamples seeds once for both metrics and fits the 4PL to the per-width means (with every run present the
  least-squares fit to the means equals the fit to the per-run points)."""
  if len(widths) < MIN_FIT_WIDTHS:
    return None
  x = np.array([per_width[str(w)]['log10_params'] for w in widths])
  E = np.array([per_width[str(w)]['values']['exact'] for w in widths], float).T  # (seeds, widths)
  T = np.array([per_width[str(w)]['values']['token_acc'] for w in widths], float).T

  def widths_of_fit(idx):
    me, mt = np.nanmean(E[idx], axis=0), np.nanmean(T[idx], axis=0)
    if not (np.all(np.isfinite(me)) and np.all(np.isfinite(mt))):
      return None
    fe = stats.logistic_threshold(x, me, kind='4pl', n_boot=0, bounds=RATE_BOUNDS)
    ft = stats.logistic_threshold(x, mt, kind='4pl', n_boot=0, bounds=RATE_BOUNDS)
    vals = (fe['width_10_90'], ft['width_10_90'], fe['center'], ft['center'])
    return vals if all(np.isfinite(v) for v in vals) else None

  n_seeds = E.shape[0]
  point = widths_of_fit(np.arange(n_seeds))
  if point is None:
    return None
  rng = np.random.default_rng(seed)
  reps = [widths_of_fit(rng.integers(0, n_seeds, n_seeds)) for _ in range(n_boot)]
  reps = np.array([r for r in reps if r is not None], float).reshape(-1, 4)
  ci = lambda v: [float(q) for q in np.percentile(v, [2.5, 97.5])] if v.size else [None, None]
  return {
    'width_exact': point[0],
    'width_token': point[1],
    'width_diff': point[1] - point[0],
    'width_diff_ci95': ci(reps[:, 1] - reps[:, 0]),
    'center_shift': point[2] - point[3],
    'center_shift_ci95': ci(reps[:, 2] - reps[:, 3]),
    'n_boot_used': int(len(reps)),
  }


def _seed_fits(per_width: dict, widths: list, seeds: list) -> dict:
  """Per seed, the 4PL 10–90% width of exact success and of per-token accuracy over that seed's widths
  (point fits; nan when a seed has fewer than MIN_FIT_WIDTHS finite widths or its fit fails): the paired
  per-seed values behind the mirage finding's "is ten enough?" numbers."""
  x = np.array([per_width[str(w)]['log10_params'] for w in widths])
  out = {'seeds': list(seeds)}
  for m in ('exact', 'token_acc'):
    Y = np.array([per_width[str(w)]['values'][m] for w in widths], float).T  # (seeds, widths)
    ws = []
    for row in Y:
      keep = np.isfinite(row)
      f = _fit(x[keep], row[keep], np.zeros(int(keep.sum())), 0, 0) if keep.any() else None
      ws.append(float('nan') if fit_failed(f) else float(f['width_10_90']))
    out[m] = ws
  return out


def _audit(an: dict) -> dict:
  """Numbers for the audit checks: permissive vs exact, acc^L vs exact, and the masked-unit maximum."""
  out = {}
  diffs = [
    s - e
    for c in an['per_width'].values()
    for s, e in zip(c['values']['success'], c['values']['exact'])
    if np.isfinite(s) and np.isfinite(e)
  ]
  out['runs_permissive_above_exact'] = int(sum(d > 1e-9 for d in diffs))
  out['runs_compared'] = len(diffs)
  out['max_permissive_minus_exact'] = float(max(diffs)) if diffs else float('nan')
  # predicted vs observed exact success (acc^L): gaps of the per-width means
  gaps = []
  for c in an['per_width'].values():
    e, p = c['describe']['exact']['mean'], c['describe']['predicted']['mean']
    if e is not None and p is not None and np.isfinite(e) and np.isfinite(p):
      gaps.append(p - e)
  out['predicted_minus_exact_mean'] = float(np.mean(gaps)) if gaps else float('nan')
  out['predicted_minus_exact_maxabs'] = float(np.max(np.abs(gaps))) if gaps else float('nan')
  leak = [c['inactive_max_abs'] for c in an['per_width'].values() if c['inactive_max_abs'] is not None]
  out['inactive_max_abs'] = float(max(leak)) if leak else float('nan')
  return out


def _headline_pair(an: dict) -> dict | None:
  """The two widths of the headline effect: those bracketing the exact-success 4PL centre (the largest
  width below it and the smallest above), or the smallest and the largest width when the centre is missing
  or outside the grid. Their per-seed exact success is paired by seed (a = upper width, b = lower)."""
  widths, pw = an['widths'], an['per_width']
  if len(widths) < 2:
    return None
  x = [pw[str(w)]['log10_params'] for w in widths]
  fe = an['fits'].get('exact')
  lo, hi, rule = widths[0], widths[-1], 'smallest and largest width'
  if not fit_failed(fe) and x[0] < fe['center'] < x[-1]:
    i = int(np.searchsorted(x, fe['center']))
    lo, hi, rule = widths[i - 1], widths[i], 'widths bracketing the 4PL centre'
  a = np.array(pw[str(hi)]['values']['exact'], float)
  b = np.array(pw[str(lo)]['values']['exact'], float)
  return {'a': hi, 'b': lo, 'rule': rule, 'a_values': a.tolist(), 'b_values': b.tolist()}


def pct(x) -> str:
  if x is None or not np.isfinite(x):
    return '–'
  v = round(100 * x)
  return f'{v:d}%' if v >= 0 else f'−{-v:d}%'


def span_text(an) -> str:
  """The model-free 40% → 95% span as table text (numbers only)."""
  cr = an.get('crossings') or {}
  if cr.get('decades') is None:
    return 'not crossed inside the grid'
  a, b = cr[f'{CLAIM["below"]:g}'], cr[f'{CLAIM["above"]:g}']
  return f'{F.render_number(cr["decades"])} decades (≈{10**a:.0f} → ≈{10**b:.0f} params)'
