"""Analysis of the capacity cliff (host side, numpy/scipy): threshold fits, crossings, mirage check, audit.

``analyze(runs, config)`` turns the run records into per-width summaries, 4-parameter logistic fits in
log10(active params) (exact success, per-token accuracy, permissive success, acc^L, and exact success per
prefix depth), paired comparisons of every width with the largest, the model-free crossings of the claim's
levels, the paired seed bootstrap of the mirage check, the audit facts and the headline. See
docs/families/capacity_cliff.md.
"""

from __future__ import annotations

import math

import numpy as np

from exp.analysis import report, stats
from exp.core.workdir import json_safe
from exp.tasks import dyck
from models.masked import active_params

# The write-up's numbers (the claim; inputs to the report, never results).
CLAIM = {'below': 0.40, 'above': 0.95}
METRICS = ('exact', 'success', 'token_acc')


def _fit(x, y, n_boot, seed):
  """4PL in log10 params plus the linear alternative; None when there is too little to fit."""
  x, y = np.asarray(x, float), np.asarray(y, float)
  if x.size < 5 or np.unique(x).size < 2:
    return None
  f = stats.logistic_threshold(x, y, kind='4pl', n_boot=n_boot, seed=seed)
  lin = stats.linear_fit_aic(x, y)
  f['linear'] = lin
  f['delta_aic'] = (lin['aic'] - f['aic']) if np.isfinite(f['aic']) else float('nan')  # > 0: 4PL better
  return f


def analyze(runs: list[dict], config) -> dict:
  runs = [r for r in runs if r['arm'] == 'gru']
  widths = sorted(set(int(r['grid']['width']) for r in runs))
  seeds = sorted(set(r['seed'] for r in runs))
  ok = [r for r in runs if r['status'] == 'ok']
  diverged = [r for r in runs if r['status'] == 'diverged']
  per_width = _per_width(ok, diverged, widths, seeds, config.max_depth)
  fits, depth_fits = _threshold_fits(per_width, widths, config)
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
  }
  analysis['audit'] = _audit(analysis)
  analysis['headline'] = _headline(analysis)
  return json_safe(analysis)


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


def _threshold_fits(per_width: dict, widths: list, config) -> tuple[dict, dict]:
  """4PL fits over per-run points: per metric (bootstrap CIs for exact success and per-token accuracy) and
  per prefix depth (exact success, point fits)."""
  xs = {m: [] for m in (*METRICS, 'predicted')}
  ys = {m: [] for m in xs}
  for w in widths:
    c = per_width[str(w)]
    for m in xs:
      for v in c['values'][m]:
        if np.isfinite(v):
          xs[m].append(c['log10_params'])
          ys[m].append(v)
  fits = {m: _fit(xs[m], ys[m], config.n_boot if m in ('exact', 'token_acc') else 0, config.seed) for m in xs}
  depth_fits = {}
  for d in range(config.max_depth):
    x, y = [], []
    for w in widths:
      for v in per_width[str(w)]['exact_by_depth']:
        if np.isfinite(v[d]):
          x.append(per_width[str(w)]['log10_params'])
          y.append(v[d])
    f = _fit(x, y, 0, config.seed)
    depth_fits[str(d + 1)] = f
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
  if len(widths) < 5:
    return None
  x = np.array([per_width[str(w)]['log10_params'] for w in widths])
  E = np.array([per_width[str(w)]['values']['exact'] for w in widths], float).T  # (seeds, widths)
  T = np.array([per_width[str(w)]['values']['token_acc'] for w in widths], float).T

  def widths_of_fit(idx):
    me, mt = np.nanmean(E[idx], axis=0), np.nanmean(T[idx], axis=0)
    if not (np.all(np.isfinite(me)) and np.all(np.isfinite(mt))):
      return None
    fe = stats.logistic_threshold(x, me, kind='4pl', n_boot=0)
    ft = stats.logistic_threshold(x, mt, kind='4pl', n_boot=0)
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


def is_cliff(f, cliff_decades) -> bool | None:
  if not f or f.get('width_10_90') is None or not np.isfinite(f['width_10_90']):
    return None
  return bool(f['width_10_90'] < cliff_decades and f['delta_aic'] > 2)


def _audit(an: dict) -> dict:
  fe = an['fits'].get('exact')
  out = {}
  mb = an.get('mirage')
  if mb and mb['width_diff_ci95'][0] is not None:
    lo, hi = mb['width_diff_ci95']
    out['mirage'] = 'token_smoother' if lo > 0 else ('exact_smoother' if hi < 0 else 'similar')
  if fe and np.isfinite(fe['lower']) and fe['lower'] < -0.05:
    out['lower_extrapolated'] = True  # the 4PL's lower plateau lies below 0: not reached inside the grid
  # the rise per depth: where does each depth's exact success switch?
  cents = {d: f['center'] for d, f in an['depth_fits'].items() if f and np.isfinite(f['center'])}
  if cents:
    out['depth_centers'] = cents
  # permissive vs exact: does any model close with extra balanced pairs?
  diffs = [
    s - e
    for c in an['per_width'].values()
    for s, e in zip(c['values']['success'], c['values']['exact'])
    if np.isfinite(s) and np.isfinite(e)
  ]
  out['runs_permissive_above_exact'] = int(sum(d > 1e-9 for d in diffs))
  out['runs_compared'] = len(diffs)
  out['max_permissive_minus_exact'] = float(max(diffs)) if diffs else float('nan')
  # predicted vs observed exact success (acc^L): mean absolute gap over widths
  gaps = []
  for c in an['per_width'].values():
    e, p = c['describe']['exact']['mean'], c['describe']['predicted']['mean']
    if np.isfinite(e) and np.isfinite(p):
      gaps.append(p - e)
  if gaps:
    out['predicted_minus_exact_mean'] = float(np.mean(gaps))
    out['predicted_minus_exact_maxabs'] = float(np.max(np.abs(gaps)))
  return out


def pct(x) -> str:
  if x is None or not np.isfinite(x):
    return '–'
  v = round(100 * x)
  return f'{v:d}%' if v >= 0 else f'−{-v:d}%'


def _headline(an: dict) -> dict:
  fe, ft = an['fits'].get('exact'), an['fits'].get('token_acc')
  widths = an['widths']
  parts = []
  if widths:
    lo, hi = an['per_width'][str(widths[0])], an['per_width'][str(widths[-1])]
    parts.append(
      f'exact success {pct(lo["describe"]["exact"]["mean"])} at {lo["params"]} params (w={widths[0]}) '
      f'→ {pct(hi["describe"]["exact"]["mean"])} at {hi["params"]} params (w={widths[-1]})'
    )
  effect, reproduced = None, None
  if fe and np.isfinite(fe['center']):
    parts.append(
      f'4PL lower {pct(fe["lower"])}, upper {pct(fe["upper"])}, center 10^{report.fmt(fe["center"])} '
      f'≈ {10 ** fe["center"]:.0f} params, 10–90% width {report.fmt(fe["width_10_90"])} decades '
      f'[{report.fmt(fe["width_ci95"][0])}, {report.fmt(fe["width_ci95"][1])}], '
      f'ΔAIC(linear − 4PL) {report.fmt(fe["delta_aic"])}'
    )
    effect = {
      'name': '10–90% width of the exact-success rise (decades of active params)',
      'value': fe['width_10_90'],
      'ci95': list(fe['width_ci95']),
    }
    cliff = is_cliff(fe, an['cliff_decades'])
    rise = fe['upper'] - fe['lower']
    span = (an.get('crossings') or {}).get('decades')
    reproduced = (
      bool(cliff and rise >= 0.3 and (span is None or span < an['cliff_decades']))
      if cliff is not None
      else None
    )
  if (an.get('crossings') or {}).get('decades') is not None:
    parts.append(f'{pct(CLAIM["below"])} → {pct(CLAIM["above"])} exact success over {span_text(an)}')
  if ft and np.isfinite(ft.get('width_10_90', np.nan)):
    parts.append(
      f'per-token accuracy width {report.fmt(ft["width_10_90"])} decades '
      f'[{report.fmt(ft["width_ci95"][0])}, {report.fmt(ft["width_ci95"][1])}]'
    )
  mb = an.get('mirage')
  if mb and mb['width_diff_ci95'][0] is not None:
    parts.append(
      f'width difference per-token − exact {report.fmt(mb["width_diff"])} '
      f'[{report.fmt(mb["width_diff_ci95"][0])}, {report.fmt(mb["width_diff_ci95"][1])}] (mirage check)'
    )
  if reproduced is None:
    verdict = 'not enough widths to fit a threshold'
  elif reproduced:
    verdict = (
      f'a capacity cliff: exact success switches within < {an["cliff_decades"]} decade of model size '
      'and a logistic beats a straight line'
    )
  else:
    verdict = (
      f'no cliff: exact success rises gradually, over ≥ {an["cliff_decades"]} decade of model size (or a '
      'straight line fits as well); the claimed sharp size threshold is not reproduced'
    )
  return {
    'finding': 'Capacity cliff on structured output (Dyck-2 completion)',
    'claim': 'below a size threshold models fail at structured output (~40% vs ~95% success)',
    'result': '; '.join(parts),
    'effect': effect,
    'verdict': verdict,
    'reproduced': reproduced,
  }


def span_text(an) -> str:
  cr = an.get('crossings') or {}
  if cr.get('decades') is None:
    return 'not crossed inside the grid'
  a, b = cr[f'{CLAIM["below"]:g}'], cr[f'{CLAIM["above"]:g}']
  return f'{report.fmt(cr["decades"])} decades (≈{10**a:.0f} → ≈{10**b:.0f} params)'
