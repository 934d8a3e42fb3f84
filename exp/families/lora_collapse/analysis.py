"""Host-side analysis of the LoRA collapse family (numpy/scipy): per (arm, rank) collapse and accuracy vs lr,
the logistic threshold, onset, just below vs just above, the approach, the "binary" counts, the rank effect,
the diagnostics; audit numbers: ``audit.py``; findings: ``findings.py``. docs/families/lora_collapse.md.
"""

from __future__ import annotations

import math

import numpy as np

from exp.analysis import findings as F
from exp.analysis import stats
from exp.core import validate as cfglib
from exp.core.workdir import json_safe
from exp.families.lora_collapse.audit import audit
from exp.families.lora_collapse.findings import build_findings


def median(v):
  v = np.asarray([x for x in v if x is not None], float)
  v = v[np.isfinite(v)]
  return float(np.median(v)) if v.size else None


def cells_by_rank(runs, arm):
  """{rank: {lr: [run, ...] sorted by seed}} for one arm."""
  out: dict = {}
  for r in runs:
    if r['arm'] != arm:
      continue
    out.setdefault(int(r['grid']['rank']), {}).setdefault(float(r['grid']['lr']), []).append(r)
  for by_lr in out.values():
    for lr in by_lr:
      by_lr[lr].sort(key=lambda r: r['seed'])
  return out


def ok_runs(rs):
  return [r for r in rs if r['status'] != 'diverged']


def collapse_points(by_lr, seeds=None):
  """(log10 lr, collapsed, seed) over the non-diverged runs, optionally of the given seeds (repeats
  allowed). The seed is the cluster id of a point: every grid point of one seed shares its data."""
  xs, ys, ss = [], [], []
  for lr, rs in by_lr.items():
    by_seed = {r['seed']: r for r in ok_runs(rs)}
    for s in seeds if seeds is not None else sorted(by_seed):
      if s in by_seed:
        xs.append(math.log10(lr))
        ys.append(float(by_seed[s]['metrics']['collapsed']))
        ss.append(s)
  return np.array(xs), np.array(ys), np.array(ss)


def _fit(x, y, n_boot, seed, groups=None):
  """Binary logistic of P(collapse); the bootstrap resamples whole seeds (``groups``)."""
  if len(np.unique(x)) < 2:
    return None
  try:
    return stats.logistic_threshold(x, y, kind='binary', n_boot=n_boot, seed=seed, groups=groups)
  except ValueError:
    return None


def _in_grid(fit, lrs) -> bool:
  c = fit.get('center') if fit else None
  return c is not None and np.isfinite(c) and math.log10(min(lrs)) <= c <= math.log10(max(lrs))


def _per_seed_thresholds(by_lr):
  """Per seed: the midpoint (log10) between the last lr below its first collapse and that first collapse;
  None when it never collapses or collapses already at the smallest lr. Also counts non-monotone seeds
  (a collapse followed by a non-collapsed run at a larger lr)."""
  lrs = sorted(by_lr)
  seeds = sorted({r['seed'] for rs in by_lr.values() for r in rs})
  out, non_monotone = {}, 0
  for s in seeds:
    flags = []
    for lr in lrs:
      r = next((r for r in ok_runs(by_lr[lr]) if r['seed'] == s), None)
      flags.append(None if r is None else bool(r['metrics']['collapsed']))
    first = next((i for i, f in enumerate(flags) if f), None)
    if first is not None and any(f is False for f in flags[first + 1 :]):
      non_monotone += 1
    out[s] = (
      None if first is None or first == 0 else 0.5 * (math.log10(lrs[first - 1]) + math.log10(lrs[first]))
    )
  return out, non_monotone


def _rank_rows(by_lr):
  rows = []
  for lr in sorted(by_lr):
    rs = by_lr[lr]
    ok = ok_runs(rs)
    m = lambda k: [r['metrics'][k] for r in ok]
    rows.append(
      {
        'lr': lr,
        'log10_lr': math.log10(lr),
        'n': len(rs),
        'diverged': len(rs) - len(ok),
        'collapsed': int(sum(m('collapsed'))),
        'one_output': int(sum(d == 1 for d in m('num_distinct'))),
        'few_outputs': int(sum(d <= 3 for d in m('num_distinct'))),
        'accuracy': stats.describe(m('heldout_acc')) if ok else None,
        'accuracy_median': median(m('heldout_acc')),
        'base_accuracy_median': median(m('base_heldout_acc')),
        'train_accuracy_median': median(m('train_acc')),
        'distinct_median': median(m('num_distinct')),
        'entropy_median': median(m('normalized_entropy')),
        'dead_relu_mean': float(np.mean(m('dead_relu'))) if ok else None,
        'logit_var_median': median(m('logit_var')),
        'modal_fraction_median': median(m('modal_fraction')),
        'digit_accuracy_median': median(m('digit_acc')) if ok and 'digit_acc' in ok[0]['metrics'] else None,
      }
    )
  return rows


def _accuracy_fit(by_lr, peak, config):
  """Accuracy cliff: 4-parameter logistic on accuracy (a rate: asymptotes in [0, 1]) against log10 lr,
  from the peak lr upwards; the bootstrap resamples whole seeds."""
  pts = [
    (math.log10(lr), r['metrics']['heldout_acc'], r['seed'])
    for lr, rs in by_lr.items()
    if lr >= peak['lr']
    for r in ok_runs(rs)
  ]
  if len({p[0] for p in pts}) >= 3:
    try:
      return stats.logistic_threshold(
        [p[0] for p in pts],
        [p[1] for p in pts],
        kind='4pl',
        n_boot=config.n_boot // 5,
        seed=config.seed,
        groups=[p[2] for p in pts],
        bounds=(0.0, 1.0),
      )
    except ValueError:
      pass
  return None


def _onset(rows):
  """The two grid lrs where the collapse rate first crosses 50%, or None."""
  rates = [(r['lr'], r['collapsed'] / (r['n'] - r['diverged'])) for r in rows if r['n'] > r['diverged']]
  return next(
    ((rates[i][0], rates[i + 1][0]) for i in range(len(rates) - 1) if rates[i][1] < 0.5 <= rates[i + 1][1]),
    None,
  )


def _sides(by_lr, cross):
  """Collapse counts of the runs above and below the onset's midpoint."""
  mid = 0.5 * (math.log10(cross[0]) + math.log10(cross[1]))
  above = [r for lr, rs in by_lr.items() if math.log10(lr) > mid for r in ok_runs(rs)]
  below = [r for lr, rs in by_lr.items() if math.log10(lr) < mid for r in ok_runs(rs)]
  escaped = [r for r in above if r['metrics']['num_distinct'] <= 3 and not r['metrics']['collapsed']]
  return {
    'above_n': len(above),
    'above_collapsed': sum(r['metrics']['collapsed'] for r in above),
    'above_one_output': sum(r['metrics']['num_distinct'] == 1 for r in above),
    'above_few_outputs_not_collapsed': len(escaped),
    'escaped_entropy_max': max((r['metrics']['normalized_entropy'] for r in escaped), default=None),
    'below_n': len(below),
    'below_collapsed': sum(r['metrics']['collapsed'] for r in below),
  }


def _edge(by_lr, cross):
  """Just below vs just above: the two crossing grid points, paired by seed."""
  a, b = ({r['seed']: r for r in ok_runs(by_lr[lr])} for lr in cross)
  both = sorted(set(a) & set(b))
  ka, kb = (sum(int(d[s]['metrics']['collapsed']) for s in both) for d in (a, b))
  edge = {
    'below_lr': cross[0],
    'above_lr': cross[1],
    'n': len(both),
    'collapsed_below': ka,
    'collapsed_above': kb,
  }
  if both:
    edge['seeds'] = both
    edge['acc_below'] = [a[s]['metrics']['heldout_acc'] for s in both]
    edge['acc_above'] = [b[s]['metrics']['heldout_acc'] for s in both]
    edge['fisher'] = stats.fisher(ka, len(both), kb, len(both))
    edge['accuracy'] = stats.compare(edge['acc_below'], edge['acc_above'], paired=True)
    edge['power'] = _paired_power(edge['acc_below'], edge['acc_above'])
  return edge


def _paired_power(a, b) -> dict:
  """Power of the paired t at the observed d_z and the pairs 80% power would need."""
  d = np.asarray(a, float) - np.asarray(b, float)
  sd = float(np.std(d, ddof=1)) if d.size > 1 else math.nan
  dz = float(d.mean() / sd) if np.isfinite(sd) and sd > 0 else math.nan
  return {
    'd_z': dz,
    'n': int(d.size),
    'power': stats.power_t(abs(dz), int(d.size)),
    'seeds_for_80': stats.seeds_for_power(dz, paired=True),
  }


def _approach(by_lr, peak, cross):
  """The approach to the threshold: accuracy at the best lr vs at the last lr before the onset, paired by
  seed; None when the best lr is the last one before the onset."""
  if not cross or cross[0] <= peak['lr']:
    return None
  a, b = ({r['seed']: r for r in ok_runs(by_lr[lr])} for lr in (peak['lr'], cross[0]))
  if not (both := sorted(set(a) & set(b))):
    return None
  out = {
    'peak_lr': peak['lr'],
    'last_lr': cross[0],
    'seeds': both,
    'acc_peak': [a[s]['metrics']['heldout_acc'] for s in both],
    'acc_last': [b[s]['metrics']['heldout_acc'] for s in both],
    'collapsed_last': sum(int(b[s]['metrics']['collapsed']) for s in both),
  }
  out['accuracy'] = stats.compare(out['acc_peak'], out['acc_last'], paired=True)
  return out


def _binary(by_lr, c, peak, cross, config):
  """ "Binary, not gradual": runs near c whose accuracy lies between the collapsed level (the median accuracy
  of the rank's collapsed runs) and the working level (the best median accuracy over lrs); how many of them
  sit at or below the last lr before the onset (on the approach to the threshold)."""
  all_ok = [r for rs in by_lr.values() for r in ok_runs(rs)]
  floor = median([r['metrics']['heldout_acc'] for r in all_ok if r['metrics']['collapsed']]) or 0.0
  span = peak['accuracy_median'] - floor
  lo, hi = (floor + f * span for f in config.intermediate_band)
  near = [
    (lr, r)
    for lr, rs in by_lr.items()
    if abs(math.log10(lr) - c) <= config.band_decades + 1e-6
    for r in ok_runs(rs)
  ]
  inter = [(lr, r) for lr, r in near if lo < r['metrics']['heldout_acc'] < hi]
  return {
    'band': [lo, hi],
    'floor': floor,
    'near_n': len(near),
    'intermediate_n': len(inter),
    'intermediate_before_onset': sum(lr <= cross[0] for lr, _ in inter) if cross else None,
    'fraction': len(inter) / len(near) if near else None,
    'all_fraction': sum(lo < r['metrics']['heldout_acc'] < hi for r in all_ok) / len(all_ok),
  }


def _analyze_rank(by_lr, config, lrs):
  rows = _rank_rows(by_lr)
  x, y, seeds = collapse_points(by_lr)
  fit = _fit(x, y, config.n_boot, config.seed, groups=seeds) if x.size else None
  out = {
    'rows': rows,
    'fit': fit,
    'n_runs': int(sum(r['n'] for r in rows)),
    'diverged': int(sum(r['diverged'] for r in rows)),
  }
  peak = max(
    (r for r in rows if r['accuracy_median'] is not None), key=lambda r: r['accuracy_median'], default=None
  )
  out['peak'] = {'lr': peak['lr'], 'accuracy_median': peak['accuracy_median']} if peak else None
  out['base_accuracy_median'] = median([r['base_accuracy_median'] for r in rows])
  out['accuracy_fit'] = _accuracy_fit(by_lr, peak, config) if peak else None
  out['threshold_in_grid'] = bool(fit and _in_grid(fit, lrs))
  # Onset: the two grid lrs where the collapse rate first crosses 50%. The logistic assumes P(collapse) rises
  # to 1; where it does not (runs above c that escape the detector), its center can drift, so the sides and
  # the just-below/just-above comparison use the empirical crossing.
  cross = _onset(rows)
  out['onset'] = list(cross) if cross else None
  if cross:
    out['sides'] = _sides(by_lr, cross)
    out['edge'] = _edge(by_lr, cross)
  out['approach'] = _approach(by_lr, peak, cross) if peak else None
  if not out['threshold_in_grid'] or not peak:
    return out
  out['binary'] = _binary(by_lr, fit['center'], peak, cross, config)
  return out


def _collapse_diagnostics(cells):
  """Dead-ReLU fraction and logit variance of collapsed vs non-collapsed runs (all ranks and lrs)."""
  runs = [r for by_lr in cells.values() for rs in by_lr.values() for r in ok_runs(rs)]
  out = {}
  for key in ('dead_relu', 'logit_var', 'num_distinct'):
    col = [r['metrics'][key] for r in runs if r['metrics']['collapsed']]
    work = [r['metrics'][key] for r in runs if not r['metrics']['collapsed']]
    base = [r['metrics'].get('base_' + key) for r in runs if r['metrics'].get('base_' + key) is not None]
    out[key] = {
      'collapsed': stats.describe(col) if col else None,
      'not_collapsed': stats.describe(work) if work else None,
      'base': stats.describe(base) if base else None,
      'compare': stats.compare(col, work) if col and work else None,
    }
    g = (out[key]['compare'] or {}).get('hedges_g')
    out[key]['power'] = stats.power_t(abs(g), len(col), len(work)) if g is not None else None
    out[key]['runs_for_80'] = stats.seeds_for_power(g) if g is not None else None
  modal = [r['metrics']['modal_output'] for r in runs if r['metrics']['collapsed']]
  values, counts = np.unique(modal, return_counts=True) if modal else ([], [])
  out['collapsed_runs'] = len(modal)
  out['one_output_runs'] = sum(r['metrics']['num_distinct'] == 1 for r in runs if r['metrics']['collapsed'])
  out['top_modal_outputs'] = [
    [int(v), int(c)] for v, c in sorted(zip(values, counts), key=lambda t: -t[1])[:3]
  ]
  return out


def _rank_effect(cells, config):
  """Threshold of the largest rank minus that of the smallest: logistic centers with a bootstrap over seeds
  (both ranks resampled with the same seeds: they share the base), per-seed thresholds paired, and the lrs
  where the rank alone changes the collapse rate (Fisher exact)."""
  ranks = sorted(cells)
  if len(ranks) < 2:
    return None
  lo, hi = ranks[0], ranks[-1]
  fits = {r: _fit(*collapse_points(cells[r])[:2], 0, config.seed) for r in (lo, hi)}
  out = {'ranks': [lo, hi], 'delta_c': None, 'delta_c_ci95': [None, None], 'n_boot_used': 0}
  if all(f and np.isfinite(f['center']) for f in fits.values()):
    out['delta_c'] = fits[hi]['center'] - fits[lo]['center']
    seeds = sorted({r['seed'] for rs in cells[lo].values() for r in rs})
    rng = np.random.default_rng(config.seed)
    reps = []
    for _ in range(config.n_boot // 5):
      pick = list(rng.choice(seeds, len(seeds)))
      f = [_fit(*collapse_points(cells[r], pick)[:2], 0, config.seed) for r in (lo, hi)]
      if all(g and np.isfinite(g['center']) for g in f):
        reps.append(f[1]['center'] - f[0]['center'])
    if reps:
      out['delta_c_ci95'] = [float(v) for v in np.percentile(reps, [2.5, 97.5])]
      out['n_boot_used'] = len(reps)
  ts = {r: _per_seed_thresholds(cells[r]) for r in (lo, hi)}
  both = [s for s in ts[lo][0] if ts[lo][0][s] is not None and ts[hi][0].get(s) is not None]
  out['per_seed'] = {
    'n': len(both),
    'non_monotone': {str(lo): ts[lo][1], str(hi): ts[hi][1]},
    'censored': {str(r): sum(v is None for v in ts[r][0].values()) for r in (lo, hi)},
  }
  if len(both) >= 2:
    out['per_seed']['compare'] = stats.compare(
      [ts[hi][0][s] for s in both], [ts[lo][0][s] for s in both], paired=True
    )
  flips = []
  for lr in sorted(set(cells[lo]) & set(cells[hi])):
    a, b = ok_runs(cells[hi][lr]), ok_runs(cells[lo][lr])
    if a and b:
      ka, kb = (sum(int(r['metrics']['collapsed']) for r in g) for g in (a, b))
      f = stats.fisher(ka, len(a), kb, len(b))
      flips.append(
        {'lr': lr, 'collapsed_hi': ka, 'n_hi': len(a), 'collapsed_lo': kb, 'n_lo': len(b), 'p': f['p']}
      )
  for f, p in zip(flips, stats.holm([f['p'] for f in flips])):
    f['holm_p'] = p
  out['by_lr'] = flips
  out['rank_alone_flips'] = [f['lr'] for f in flips if f['holm_p'] < 0.05]
  return out


def analyze(runs: list[dict], config) -> dict:
  lrs = sorted(float(np.float32(lr)) for lr in config.lrs)
  pre = [r for r in runs if r['arm'] == 'pretrain']
  an: dict = {
    'lrs': lrs,
    'ranks': sorted(config.ranks),
    'rslora': bool(config.rslora),
    'alpha_per_rank': float(config.alpha_per_rank),
    'num_steps': config.num_steps,
    'arms': {},
  }
  an['pretrain'] = {
    k: stats.describe([r['metrics'][k] for r in pre]) for k in (pre[0]['metrics'] if pre else {})
  }
  for arm in cfglib.arm_names(config):
    cells = cells_by_rank(runs, arm)
    if not cells:
      continue
    an['arms'][arm] = {
      'by_rank': {str(r): _analyze_rank(cells[r], config, lrs) for r in sorted(cells)},
      'rank_effect': _rank_effect(cells, config),
      'diagnostics': _collapse_diagnostics(cells),
    }
  # Holm within the finding: the just-below vs just-above comparisons of every arm and rank.
  edges = [
    e for a in an['arms'].values() for g in a['by_rank'].values() if (e := g.get('edge')) and 'accuracy' in e
  ]
  for e, p in zip(edges, stats.holm([e['accuracy']['student']['p'] for e in edges])):
    e['accuracy_holm_p'] = p
  for e, p in zip(edges, stats.holm([e['fisher']['p'] for e in edges])):
    e['fisher_holm_p'] = p
  an['audit'] = audit(an, config)
  an = json_safe(an)
  an['findings'] = build_findings(an, config)
  an['headline'] = F.headline_of(an['findings'][0])
  return json_safe(an)
