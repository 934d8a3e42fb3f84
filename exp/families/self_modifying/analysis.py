"""Host-side statistics of the self-modifying family (docs/families/self_modifying.md).

``analyze(runs, config)`` turns the run records into: per-cell accuracy summaries (architecture ×
objective × split, in accuracy points), each cell vs fixed/none of its split (Student, Welch, paired t,
Hedges' g; Holm), a repeated-measures two-way ANOVA architecture × objective per split (statsmodels
AnovaRM, seeds as subjects), the factorial's main effects per seed (paired), the path decomposition of each
of the write-up's failure cells, gradient conflict per cell and its correlation with the drop, PCGrad vs
unprojected, the split cliff and the split-shift diagnostics (exp/analysis/shift.py); then the findings
(findings.py) and the headline.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats as sps

from exp.analysis import findings as F
from exp.analysis import shift, stats
from exp.core import validate as cfglib
from exp.core.workdir import json_safe

from .program import OBJECTIVES

ARCHS = ('fixed', 'selfmod')
SPLITS = ('random', 'tail')
FAILURES = ('pseudo', 'entropy_aux', 'entropy')  # the write-up's three self-modifying "failures"
CLAIM = {'baseline': 69.80, 'pseudo': 58.30, 'entropy_aux': 42.76, 'entropy': 57.57, 'cliff': 13.0}
METRIC = 'val_acc'  # the write-up's numbers are validation accuracies; clean labels here


def cell_name(arch: str, obj: str, split: str) -> str:
  return f'{arch}/{obj}/{split}'


def _cell_of(run: dict) -> tuple[str, str, str]:
  g = run['grid']
  return ARCHS[int(g['selfmod'])], OBJECTIVES[int(g['objective'])], SPLITS[int(g['tail'])]


def _num(x) -> float:
  return math.nan if x is None else float(x)


def tables(runs: list[dict], metric: str, scale: float = 1.0) -> tuple[list[int], dict]:
  """(seeds, {cell: (seeds,) values}) with NaN for a missing or diverged run; seeds sorted."""
  seeds = sorted({r['seed'] for r in runs if r['arm'] == 'factorial'})
  pos = {s: i for i, s in enumerate(seeds)}
  out: dict[str, np.ndarray] = {}
  for r in runs:
    if r['arm'] != 'factorial':
      continue
    name = cell_name(*_cell_of(r))
    row = out.setdefault(name, np.full(len(seeds), np.nan))
    v = r['metrics'].get(metric)
    if r['status'] == 'ok' and v is not None:
      row[pos[r['seed']]] = float(v) * scale
  return seeds, out


def mean_over(vals: dict, names: list[str]) -> np.ndarray:
  """Per-seed mean over the named cells (NaN if any is missing for that seed)."""
  arr = np.array([vals[n] for n in names])
  return arr.mean(axis=0) if len(arr) else np.zeros(0)


def effect(values: np.ndarray) -> dict:
  """A paired effect: describe() of its per-seed values (mean, 95% t CI), with the values."""
  d = stats.describe(values)
  return dict(mean=d['mean'], ci95=d['ci95'], sd=d['sd'], n=d['n'], values=list(values))


def main_effects(vals: dict, objs: tuple, archs: tuple, splits: tuple) -> dict:
  """Per-seed main effects of the factorial, each averaged over the other factors' levels present:
  split (random − tail), architecture (fixed − selfmod), each objective (none − objective), and the write-up's
  objectives together (none − mean of FAILURES present)."""
  out = {}
  if set(SPLITS) <= set(splits):
    a = mean_over(vals, [cell_name(x, o, 'random') for x in archs for o in objs])
    b = mean_over(vals, [cell_name(x, o, 'tail') for x in archs for o in objs])
    out['split'] = effect(a - b)
  if set(ARCHS) <= set(archs):
    a = mean_over(vals, [cell_name('fixed', o, s) for o in objs for s in splits])
    b = mean_over(vals, [cell_name('selfmod', o, s) for o in objs for s in splits])
    out['arch'] = effect(a - b)
    for s in splits:
      a = mean_over(vals, [cell_name('fixed', o, s) for o in objs])
      b = mean_over(vals, [cell_name('selfmod', o, s) for o in objs])
      out[f'arch_{s}'] = effect(a - b)
  if 'none' in objs:
    none = mean_over(vals, [cell_name(x, 'none', s) for x in archs for s in splits])
    for o in objs:
      if o != 'none':
        out[f'obj_{o}'] = effect(none - mean_over(vals, [cell_name(x, o, s) for x in archs for s in splits]))
    fails = [o for o in FAILURES if o in objs]
    if fails:
      both = [cell_name(x, o, s) for x in archs for o in fails for s in splits]
      out['objective'] = effect(none - mean_over(vals, both))
  return out


def vs_baseline(vals: dict, objs, archs, splits, alpha: float) -> dict:
  """Each cell vs fixed/none of its split, paired by seed; Holm over the cells of a split (paired t)."""
  out = {}
  for s in splits:
    base = vals.get(cell_name('fixed', 'none', s))
    if base is None:
      continue
    rows = []
    for x in archs:
      for o in objs:
        name = cell_name(x, o, s)
        if (x, o) == ('fixed', 'none') or name not in vals:
          continue
        try:
          c = stats.compare(vals[name], base, paired=True)
        except ValueError:
          continue
        rows.append(dict(cell=name, **c))
    adj = stats.holm([r['paired']['p'] for r in rows])
    for r, p in zip(rows, adj):
      r['paired_holm_p'] = p
      r['significant'] = bool(p < alpha) if np.isfinite(p) else None
    out[s] = rows
  return out


def anova(vals: dict, seeds: list, objs, archs, split: str) -> dict:
  """Repeated-measures two-way ANOVA accuracy ~ architecture × objective, seeds as subjects (statsmodels
  AnovaRM; seeds with a missing cell are left out, as AnovaRM needs a balanced design)."""
  from statsmodels.stats.anova import AnovaRM

  rows = []
  for i, seed in enumerate(seeds):
    cells = [
      (x, o, vals.get(cell_name(x, o, split), np.full(len(seeds), np.nan))[i]) for x in archs for o in objs
    ]
    if all(np.isfinite(v) for _, _, v in cells):
      rows += [dict(seed=seed, arch=x, objective=o, acc=v) for x, o, v in cells]
  n_subj = len({r['seed'] for r in rows})
  out = {'n_subjects': n_subj}
  if n_subj < 2 or len(archs) < 2 or len(objs) < 2:
    out['note'] = 'needs both architectures, at least two objectives and two complete seeds'
    return out
  try:
    res = AnovaRM(pd.DataFrame(rows), 'acc', 'seed', within=['arch', 'objective']).fit().anova_table
  except (ValueError, np.linalg.LinAlgError) as e:  # e.g. zero residual variance
    out['note'] = f'AnovaRM failed: {e}'
    return out
  names = {'arch': 'arch', 'objective': 'objective', 'arch:objective': 'interaction'}
  for src, key in names.items():
    r = res.loc[src]
    out[key] = dict(
      F=float(r['F Value']), df1=float(r['Num DF']), df2=float(r['Den DF']), p=float(r['Pr > F'])
    )
  return out


def decomposition(vals: dict) -> dict:
  """Each failure cell at the tail split vs fixed/none at the random split, per seed, along the path
  split (fixed/none: random → tail), architecture (→ selfmod, none, tail), objective (none → it, selfmod,
  tail); the three parts add up to the total drop exactly."""
  need = [
    cell_name('fixed', 'none', 'random'),
    cell_name('fixed', 'none', 'tail'),
    cell_name('selfmod', 'none', 'tail'),
  ]
  if not all(n in vals for n in need):
    return {}
  b0, b1, b2 = (vals[n] for n in need)
  out = {}
  for o in FAILURES:
    cell = vals.get(cell_name('selfmod', o, 'tail'))
    if cell is None:
      continue
    total, split = b0 - cell, b0 - b1
    out[o] = dict(
      total=effect(total),
      split=effect(split),
      arch=effect(b1 - b2),
      objective=effect(b2 - cell),
      split_share=float(np.nanmean(split) / np.nanmean(total)) if np.nanmean(total) else math.nan,
    )
  return out


def pearson(x: np.ndarray, y: np.ndarray) -> dict:
  """Pearson r (scipy) with its Fisher-z 95% CI, and Spearman's rho; NaN pairs dropped."""
  keep = np.isfinite(x) & np.isfinite(y)
  x, y = x[keep], y[keep]
  n = int(x.size)
  out = dict(n=n, r=math.nan, ci95=[math.nan, math.nan], p=math.nan, spearman=math.nan, spearman_p=math.nan)
  if n < 4 or np.std(x) == 0 or np.std(y) == 0:
    return out
  r, p = sps.pearsonr(x, y)
  z, h = math.atanh(max(min(r, 0.999999), -0.999999)), 1.96 / math.sqrt(n - 3)
  rho, rp = sps.spearmanr(x, y)
  return dict(
    n=n,
    r=float(r),
    ci95=[math.tanh(z - h), math.tanh(z + h)],
    p=float(p),
    spearman=float(rho),
    spearman_p=float(rp),
  )


def conflict(runs: list, vals: dict, cos: dict) -> dict:
  """Per aux cell: mean cosine and fraction of steps with cosine < 0 (described over seeds); the
  correlation over runs of the run's mean cosine with its drop (none − objective, same seed, arch, split)."""
  cells, xs, ys = {}, [], []
  for name, c in cos['cos_mean'].items():
    if name.split('/')[1] == 'none':
      continue  # no auxiliary gradient: its cosine is 0 by convention
    cells[name] = {k: stats.describe(cos[k][name]) for k in cos if name in cos[k]}
    x, o, s = name.split('/')
    none = vals.get(cell_name(x, 'none', s))
    if none is not None and o != 'pcgrad':
      xs.append(c)
      ys.append(none - vals[name])
  x = np.concatenate(xs) if xs else np.zeros(0)
  y = np.concatenate(ys) if ys else np.zeros(0)
  return dict(cells=cells, correlation=pearson(x, y), points=dict(cos=list(x), drop=list(y)))


def split_shift(config, seeds: list) -> dict:
  """Host-side shift diagnostics of each split: for each seed, the training split vs the evaluation set
  (the validation split): class-prior TV of the noisy labels, domain-classifier AUC and RBF MMD² (a
  subsample of ``shift_sample`` points each) with its permutation p-value."""
  import jax

  from exp.core.runner import seed_key

  from .program import data_for_seed, splits_for_seed

  out = {}
  n = config.shift_sample
  for split in cfglib.split_names(config.splits):
    per = dict(tv=[], auc=[], mmd2=[], mmd_p=[])
    for s in seeds:
      key = seed_key(config.seed, s)
      data = jax.tree.map(np.asarray, data_for_seed(config, key))
      tr, va = (np.asarray(i) for i in splits_for_seed(config, key, split == 'tail'))
      per['tv'].append(shift.class_prior_tv(data['y'][tr], data['y'][va], config.num_classes))
      rng = np.random.default_rng(s)
      a = data['x'][rng.choice(tr, min(n, len(tr)), replace=False)]
      b = data['x'][rng.choice(va, min(n, len(va)), replace=False)]
      per['auc'].append(shift.domain_auc(a, b, seed=s)['auc'])
      m = shift.mmd_rbf(a, b, n_perm=config.mmd_permutations, seed=s)
      per['mmd2'].append(m['mmd2'])
      per['mmd_p'].append(m['p'])
    out[split] = dict(
      values=per,
      tv=stats.describe(per['tv']),
      auc=stats.describe(per['auc']),
      mmd2=stats.describe(per['mmd2']),
      frac_mmd_significant=float(np.mean(np.array(per['mmd_p']) < config.alpha)),
    )
  return out


def analyze(runs: list[dict], config, shift_fn=None) -> dict:
  """The family's numbers (see the module docstring). ``shift_fn(config, seeds)`` replaces
  ``split_shift`` (tests feed synthetic shift numbers)."""
  from .findings import build_findings

  objs = tuple(o for o in OBJECTIVES if o in cfglib.split_names(config.objectives))
  archs = cfglib.split_names(config.architectures)
  splits = cfglib.split_names(config.splits)
  seeds, vals = tables(runs, METRIC, 100.0)
  _, test = tables(runs, 'test_acc', 100.0)
  cos = {k: tables(runs, k)[1] for k in ('cos_mean', 'cos_frac_neg', 'cos_hidden_mean', 'cos_output_mean')}
  cos = {k: {c: v for c, v in d.items() if np.isfinite(v).any()} for k, d in cos.items()}
  churn = {
    k: tables(runs, k)[1] for k in ('units_per_event', 'conns_per_event', 'acc_delta_per_event', 'width')
  }
  an = dict(
    seeds=seeds,
    objectives=list(objs),
    architectures=list(archs),
    splits=list(splits),
    n_runs=len(runs),
    n_diverged=sum(r['status'] == 'diverged' for r in runs),
    values=vals,
    cells={n: stats.describe(v) for n, v in vals.items()},
    test_cells={n: stats.describe(v) for n, v in test.items()},
    vs_baseline=vs_baseline(vals, objs, archs, splits, config.alpha),
    anova={s: anova(vals, seeds, objs, archs, s) for s in splits},
    effects=main_effects(vals, objs, archs, splits),
    test_effects=main_effects(test, objs, archs, splits),
    decomposition=decomposition(vals),
    conflict=conflict(runs, vals, cos),
    churn={
      k: {c: stats.describe(v) for c, v in d.items() if c.startswith('selfmod')} for k, d in churn.items()
    },
    shift=(shift_fn or split_shift)(config, seeds),
  )
  if 'pcgrad' in objs and 'entropy_aux' in objs:
    a = mean_over(vals, [cell_name(x, 'pcgrad', s) for x in archs for s in splits])
    b = mean_over(vals, [cell_name(x, 'entropy_aux', s) for x in archs for s in splits])
    an['pcgrad'] = effect(a - b)
    if 'none' in objs:
      c = mean_over(vals, [cell_name(x, 'none', s) for x in archs for s in splits])
      an['pcgrad_vs_none'] = effect(c - a)
  an = json_safe(an)
  an['findings'] = build_findings(an, config)
  an['headline'] = F.headline_of(an['findings'][0])
  return an
