"""Host-side analysis of the Noisy Student runs (numpy/scipy via ``exp.analysis.stats``): per-condition
summaries in both regimes, noisy vs clean and ablation comparisons (paired by seed, Holm within each
table), variance tests, the decomposition of the claimed gap, the claim's own numbers recomputed; the
findings (``findings.py``) and the headline drawn from them."""

from __future__ import annotations

import numpy as np
import scipy.stats as sps

from exp.analysis import findings as F
from exp.analysis import stats
from exp.core.workdir import finite_or_none
from exp.families.noisy_student.common import (
  ALPHA,
  CLAIM,
  CONDITIONS,
  LOSSES,
  METRICS,
  REGIMES,
  SERIES_LABELS,
  condition_of,
  find,  # noqa: F401 - re-exported for the report
)
from exp.families.noisy_student.common import metric_key as _key
from exp.families.noisy_student.findings import build_findings


def per_seed(runs: list[dict], config) -> dict:
  """{condition: {'seeds': [...], 'diverged': [seeds], metric_key: np.array over seeds (nan = diverged)}}."""
  seeds = [config.seed_offset + i for i in range(config.num_seeds)]
  pos = {s: i for i, s in enumerate(seeds)}
  out: dict = {}
  for r in runs:
    if r['arm'] == 'pretrain':
      continue
    c = condition_of(r['grid'])
    cell = out.setdefault(c, {'seeds': seeds, 'diverged': [], 'n_runs': 0})
    cell['n_runs'] += 1
    if r['status'] == 'diverged':
      cell['diverged'].append(r['seed'])
      continue
    for k, v in r['metrics'].items():
      arr = cell.setdefault(k, np.full(len(seeds), np.nan))
      if v is not None and r['seed'] in pos:
        arr[pos[r['seed']]] = float(v)
  return {c: out[c] for c in CONDITIONS if c in out}


def claim_samples(mean: float, sd: float, n: int) -> np.ndarray:
  """A sample of n values with exactly the published mean and SD (ddof=1). The F test, per-group CIs,
  t and g depend on (mean, SD, n) only, so exp.stats run on it reproduces them exactly from the claim;
  tests that need the raw values (Levene, Brown–Forsythe) are not reported for the claim."""
  z = np.linspace(-1.0, 1.0, n)
  z = (z - z.mean()) / z.std(ddof=1)
  return mean + sd * z


def claim_audit() -> dict:
  c = CLAIM
  noisy = claim_samples(c['noisy']['mean'], c['noisy']['sd'], c['noisy']['n'])
  clean = claim_samples(c['clean']['mean'], c['clean']['sd'], c['clean']['n'])
  recomputed = stats.compare_from_summary(
    c['noisy']['mean'],
    c['noisy']['sd'],
    c['noisy']['n'],
    c['clean']['mean'],
    c['clean']['sd'],
    c['clean']['n'],
  )
  var = stats.variance_test(noisy, clean)
  return {
    'var_ratio_ci95': var_ratio_ci(var),
    'reported': {
      't': c['t'],
      'p': c['p'],
      'g': c['g'],
      'variance_factor': c['variance_factor'],
      'noisy': dict(c['noisy']),
      'clean': dict(c['clean']),
    },
    'recomputed': recomputed,
    'ci95': {'noisy': stats.describe(noisy)['ci95'], 'clean': stats.describe(clean)['ci95']},
    'sd_ratio': var['sd_ratio'],
    'var_ratio': var['var_ratio'],
    'f_test': var['f'],
  }


def var_ratio_ci(var: dict) -> list:
  """The 95% CI of the variance ratio a/b from the F distribution (df n_a − 1, n_b − 1): it excludes 1
  exactly when the two-sided F test of ``stats.variance_test`` has p < ALPHA."""
  r, df1, df2 = var['var_ratio'], var['f']['df1'], var['f']['df2']
  if r is None or not np.isfinite(r) or min(df1, df2) < 1:
    return [None, None]
  dist = sps.f(df1, df2)
  return [float(r / dist.ppf(1 - ALPHA / 2)), float(r / dist.ppf(ALPHA / 2))]


def _cells(ps: dict) -> dict:
  cells = {}
  for c in ps:
    cells[c] = {'n_runs': ps[c]['n_runs'], 'diverged': len(ps[c]['diverged'])}
    for reg in REGIMES:
      cells[c][reg] = {m: stats.describe(ps[c][_key(m, reg)]) for m in METRICS if _key(m, reg) in ps[c]}
  return cells


def _cmp(ps, a, b, metric, reg):
  xa, xb = ps[a][_key(metric, reg)], ps[b][_key(metric, reg)]
  if np.isfinite(xa).sum() == 0 or np.isfinite(xb).sum() == 0:
    return None
  return stats.compare(xa, xb, paired=True)


def _with_holm(rows: list[dict]) -> list[dict]:
  for row, hp in zip(rows, stats.holm([r['compare']['student']['p'] for r in rows])):
    row['holm_p'] = finite_or_none(hp)
  return rows


def _comparisons(ps: dict) -> list[dict]:
  """Noisy vs clean on every metric in both regimes: one finding, Holm over all its rows."""
  comparisons = []
  if 'noisy' in ps and 'clean' in ps:
    for reg in REGIMES:
      for m in METRICS:
        c = _cmp(ps, 'noisy', 'clean', m, reg)
        if c is not None:
          comparisons.append({'a': 'noisy', 'b': 'clean', 'metric': m, 'regime': reg, 'compare': c})
  return _with_holm(comparisons)


def _ablations(ps: dict) -> list[dict]:
  """Ablations: which noise does what (held-out loss and token accuracy), Holm within."""
  ablations = []
  for a in ('delete_only', 'dropout_only'):
    if a in ps and 'clean' in ps:
      for reg in REGIMES:
        for m in ('heldout_loss', 'heldout_token_acc', 'train_loss_noised'):
          c = _cmp(ps, a, 'clean', m, reg)
          if c is not None:
            ablations.append({'a': a, 'b': 'clean', 'metric': m, 'regime': reg, 'compare': c})
  return _with_holm(ablations)


def _variance(ps: dict) -> dict:
  variance = {}
  if 'noisy' in ps and 'clean' in ps:
    for reg in REGIMES:
      variance[reg] = {}
      for m in LOSSES:
        xa, xb = ps['noisy'][_key(m, reg)], ps['clean'][_key(m, reg)]
        if np.isfinite(xa).sum() and np.isfinite(xb).sum():
          v = stats.variance_test(xa, xb)
          variance[reg][m] = dict(v, var_ratio_ci95=var_ratio_ci(v))
  return variance


def _decomposition(ps: dict) -> dict:
  """How much of the claimed gap is the measurement: noised-train gap = (noisy − clean on clean training
  inputs) + (the noisy student's own noised − clean training loss), per seed."""
  decomposition = {}
  if 'noisy' in ps and 'clean' in ps:
    for reg in REGIMES:
      n_noised, n_clean = (
        ps['noisy'][_key('train_loss_noised', reg)],
        ps['noisy'][_key('train_loss_clean', reg)],
      )
      c_clean = ps['clean'][_key('train_loss_clean', reg)]
      gap = stats.describe(n_noised - c_clean)
      measure_part = stats.describe(n_noised - n_clean)
      decomposition[reg] = {
        'gap': gap,
        'model_part': stats.describe(n_clean - c_clean),
        'measurement_part': measure_part,
        # A share of the gap only means something when the gap is positive (its CI above 0).
        'measurement_share': finite_or_none(measure_part['mean'] / gap['mean'])
        if F.above(gap['ci95'], 0.0)
        else None,
      }
  return decomposition


def _teacher(runs: list[dict], ps: dict) -> dict:
  pre = [r for r in runs if r['arm'] == 'pretrain' and r['status'] == 'ok']
  return {
    'exact': stats.describe([r['metrics'].get('teacher_exact', np.nan) for r in pre]) if pre else None,
    'labels_exact': stats.describe(ps['clean']['teacher_exact'])
    if 'clean' in ps and 'teacher_exact' in ps['clean']
    else None,
    'heldout_unseen': stats.describe(ps['clean']['heldout_unseen'])
    if 'clean' in ps and 'heldout_unseen' in ps['clean']
    else None,
  }


def analyze(runs: list[dict], config) -> dict:
  ps = per_seed(runs, config)
  conds = list(ps)
  cells = _cells(ps)
  comparisons = _comparisons(ps)
  ablations = _ablations(ps)
  variance = _variance(ps)
  decomposition = _decomposition(ps)
  teacher = _teacher(runs, ps)
  analysis = {
    'conditions': conds,
    'labels': {c: SERIES_LABELS[c] for c in conds},
    'regimes': {'early': config.early_step, 'final': config.num_steps},
    'cells': cells,
    'comparisons': comparisons,
    'ablations': ablations,
    'variance': variance,
    'decomposition': decomposition,
    'teacher': teacher,
    'claim': claim_audit(),
    'per_seed': {
      c: {k: [finite_or_none(v) for v in arr] for k, arr in d.items() if isinstance(arr, np.ndarray)}
      for c, d in ps.items()
    },
  }
  analysis['findings'] = build_findings(analysis, config)
  analysis['headline'] = F.headline_of(analysis['findings'][0])
  return analysis
