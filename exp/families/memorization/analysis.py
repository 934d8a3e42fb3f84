"""Host-side analysis of the memorization family (numpy/scipy): episodes to converge per series and N,
power-law scaling fits, SL-vs-RL comparisons (Holm within each finding's family), pooled tests at the
larger N's, the audit numbers, and the findings (``findings.build_findings``)."""

from __future__ import annotations

import math

import numpy as np

from exp.analysis import stats
from exp.analysis.findings import headline_of
from exp.core.workdir import finite_or_none

ARMS = ('sl', 'rl_eoe', 'rl_step', 'rl_step_dense')
LABELS = {'sl': 'SL', 'rl_eoe': 'RL-EoE', 'rl_step': 'RL-Step', 'rl_step_dense': 'RL-Step-dense'}
# The write-up's published numbers, inputs to the audit (never used as results).
CLAIM = {
  'ns': (10, 100, 500),
  'sl': (2, 2, 2),
  'rl_eoe': (19, 129, 599),
  'rl_step': ('7004', 'timeout', 'timeout'),
  'exponent': 0.89,
  'r2': 0.967,
  'g_sl_vs_rl_eoe': -8.2,
  'g_sl_vs_rl_step': -15.3,
  'advantage': '9×, 64×, 299×',
}


def series_of(runs: list[dict], config) -> dict:
  """Groups runs into series: one per arm, and one per learning rate for SL.
  Returns {series: {'label', 'arm', 'lr', 'by_n': {n: {'episodes': [...], 'observed': [...],
  'seeds': [...], 'diverged': int}}}} where censored runs carry the budget as their time."""
  budget = config.num_steps
  out: dict = {}
  sl_lrs = sorted(set(float(r['grid']['lr']) for r in runs if r['arm'] == 'sl'), reverse=True)
  for r in runs:
    arm, lr, n = r['arm'], float(r['grid']['lr']), int(r['grid']['n'])
    if arm == 'sl':
      key = 'sl' if lr == sl_lrs[0] else f'sl@{lr:g}'
      label = f'SL (lr {lr:g})'
    else:
      key, label = arm, LABELS[arm]
    s = out.setdefault(key, {'label': label, 'arm': arm, 'lr': lr, 'by_n': {}})
    cell = s['by_n'].setdefault(n, {'episodes': [], 'observed': [], 'seeds': [], 'diverged': 0})
    if r['status'] == 'diverged':
      cell['diverged'] += 1
      continue
    steps = r['metrics'].get('steps_to_done')
    cell['episodes'].append(float(steps + 1) if steps is not None else float(budget + 1))
    cell['observed'].append(steps is not None)
    cell['seeds'].append(r['seed'])
  order = ['sl'] + [k for k in out if k.startswith('sl@')] + [a for a in ARMS if a != 'sl']
  return {k: out[k] for k in order if k in out}


def _cell(c: dict) -> dict:
  """Summary of one (series, N) cell: counts (converged, censored and diverged apart), censored median,
  descriptives of the converged runs, and the per-seed times (diverged runs have none)."""
  ep, obs = np.array(c['episodes']), np.array(c['observed'], bool)
  summary = stats.censored_summary(ep, obs) if len(ep) else None
  conv = ep[obs]
  return {
    'n_runs': len(ep) + c['diverged'],
    'converged': int(obs.sum()),
    'censored': int((~obs).sum()),
    'diverged': c['diverged'],
    'median': finite_or_none(summary['median']) if summary else None,
    'median_ci95': [finite_or_none(v) for v in summary['median_ci95']] if summary else None,
    'describe': stats.describe(conv) if len(conv) else None,
    'describe_log10': stats.describe(np.log10(conv)) if len(conv) else None,
    'all_converged': bool(len(ep) and obs.all()),
    'episodes': ep.tolist(),
    'observed': obs.tolist(),
    'seeds': [int(v) for v in c['seeds']],
  }


def _series_cells_and_fit(s: dict, ns: list, seed: int, n_boot: int) -> tuple[dict, dict]:
  """The cells of one series and its power-law fits: over converged per-seed points (bootstrap over
  seeds) and over the cells' medians."""
  cells = {}
  xs, ys, gs = [], [], []
  for n in ns:
    c = s['by_n'].get(n)
    if c is None:
      continue
    cells[str(n)] = _cell(c)
    ep, obs = np.array(c['episodes']), np.array(c['observed'], bool)
    conv = ep[obs]
    xs += [n] * int(obs.sum())
    ys += list(conv)
    gs += list(np.array(c['seeds'])[obs])
  fit, fit_medians = None, None
  if len(set(xs)) >= 2:
    fit = stats.power_law(np.array(xs, float), np.array(ys), groups=np.array(gs), n_boot=n_boot, seed=seed)
    med = [
      (n, cells[str(n)]['median']) for n in ns if str(n) in cells and cells[str(n)]['median'] is not None
    ]
    if len(med) >= 2:
      fit_medians = stats.power_law(
        np.array([m[0] for m in med], float), np.array([m[1] for m in med], float), n_boot=0
      )
  return cells, {'per_seed': fit, 'medians': fit_medians}


# One Holm family per finding: the SL-vs-RL comparisons the write-up's claim makes, and the SL-vs-dense
# comparisons of the audit arm. The table and the checks read the same adjusted p from each row.
FAMILIES = {'sl_vs_rl': ('rl_eoe', 'rl_step'), 'sl_vs_dense': ('rl_step_dense',)}


def _compare(a: dict, b: dict, other: str, n: int) -> dict:
  """SL (cell ``a``) vs arm ``other`` (cell ``b``) at one N: t-tests only where both groups fully
  converged (censored times never enter one); its primary p is the log10 Student p, else log-rank."""
  ea, eb = np.array(a['episodes']), np.array(b['episodes'])
  oa, ob = np.array(a['observed'], bool), np.array(b['observed'], bool)
  row = {
    'a': 'sl',
    'b': other,
    'n': n,
    'label': f'SL vs {LABELS[other]}, N={n}',
    'fisher': stats.fisher(int(oa.sum()), len(oa), int(ob.sum()), len(ob)),
    'logrank': stats.logrank(ea, oa, eb, ob),
  }
  if oa.all() and ob.all():
    row['raw'] = stats.compare(ea, eb, paired=_paired(a, b))
    row['log10'] = stats.compare(np.log10(ea), np.log10(eb), paired=_paired(a, b))
    row['primary_test'], row['primary_p'] = 'log10 Student t', row['log10']['student']['p']
  else:  # censored times sit above every converged one, so a rank test stays valid
    row['mann_whitney_censored'] = stats.compare(ea, eb)['mann_whitney']
    row['primary_test'], row['primary_p'] = 'log-rank', row['logrank']['p']
  return row


def _comparisons(ser: dict, ns: list) -> list[dict]:
  """SL vs each RL arm, per N; Holm-adjusted within each family of FAMILIES."""
  comparisons = []
  if 'sl' not in ser:
    return comparisons
  for family, others in FAMILIES.items():
    rows = []
    for other in [k for k in others if k in ser]:
      for n in ns:
        a, b = ser['sl']['by_n'].get(n), ser[other]['by_n'].get(n)
        if not a or not b or not a['episodes'] or not b['episodes']:
          continue
        rows.append(_compare(a, b, other, n))
    for c, p in zip(rows, stats.holm([c['primary_p'] for c in rows])):
      c['family'], c['holm_p'] = family, p
    comparisons += rows
  return comparisons


def _pooled(ser: dict, arm: str, ns: list) -> dict | None:
  """``arm`` at the N's ``ns`` pooled (one budget, so times pool): converged, censored and diverged
  counts, and SL (large step) vs ``arm`` by Fisher exact on the converged counts and by log-rank."""
  if arm not in ser or 'sl' not in ser:
    return None
  cells = {k: [ser[k]['by_n'][n] for n in ns if n in ser[k]['by_n']] for k in ('sl', arm)}
  if not cells[arm]:
    return None
  pool = {}
  for k, cs in cells.items():
    ep = np.concatenate([np.array(c['episodes'], float) for c in cs])
    ob = np.concatenate([np.array(c['observed'], bool) for c in cs])
    pool[k] = (ep, ob, sum(c['diverged'] for c in cs))
  (ea, oa, _), (eb, ob, div) = pool['sl'], pool[arm]
  out = {
    'ns': list(ns),
    'converged': int(ob.sum()),
    'censored': int((~ob).sum()),
    'diverged': int(div),
    'runs': int(ob.size + div),
    'censored_frac': float((~ob).mean()) if ob.size else None,
    'fisher': None,
    'logrank': None,
  }
  if ea.size and eb.size:
    out['fisher'] = stats.fisher(int(oa.sum()), int(oa.size), int(ob.sum()), int(ob.size))
    out['logrank'] = stats.logrank(ea, oa, eb, ob)
  return out


def analyze(runs: list[dict], config) -> dict:
  from .findings import build_findings  # findings reads this module's CLAIM and LABELS

  ser = series_of(runs, config)
  ns = sorted(tuple(config.ns))
  n_boot = int(config.get('n_boot', 2000))
  cells, fits = {}, {}
  for key, s in ser.items():
    cells[key], fits[key] = _series_cells_and_fit(s, ns, config.seed, n_boot)
  larger = ns[1:]  # "the larger N's": every N but the smallest
  analysis = {
    'budget': config.num_steps,
    'ns': ns,
    'cells': cells,
    'fits': fits,
    'comparisons': _comparisons(ser, ns),
    'larger_ns': {arm: _pooled(ser, arm, larger) for arm in ARMS[1:] if arm in ser},
    'labels': {k: s['label'] for k, s in ser.items()},
    'sl_lrs': {k: s['lr'] for k, s in ser.items() if s['arm'] == 'sl'},
  }
  analysis['audit'] = _audit(analysis)
  analysis['findings'] = build_findings(analysis, config)
  analysis['headline'] = headline_of(analysis['findings'][0])
  return analysis


def _paired(a, b) -> bool:
  return a['seeds'] == b['seeds']


def _audit(an: dict) -> dict:
  """Numbers behind the audit checks, computed from the runs and the claim's inputs: the power law
  through the published RL-EoE means, and the RL-EoE SD that the published g implies at its N."""
  claim_fit = stats.power_law(np.array(CLAIM['ns'], float), np.array(CLAIM['rl_eoe'], float), n_boot=0)
  # g at the claim's smallest N with SL's SD ≈ 0 implies a pooled SD of Δ·J/|g| and an RL SD of √2 times it.
  j = 1 - 3 / (4 * 18 - 1)
  pooled = (CLAIM['rl_eoe'][0] - CLAIM['sl'][0]) * j / abs(CLAIM['g_sl_vs_rl_eoe'])
  return {
    'claim_means_fit': {'exponent': claim_fit['exponent'], 'r2': claim_fit['r2']},
    'claim_n': CLAIM['ns'][0],
    'claim_implied_rl_sd': pooled * math.sqrt(2),
  }
