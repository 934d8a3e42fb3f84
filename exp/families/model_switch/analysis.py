"""Host-side statistics of the model-switch family (docs/families/model_switch.md): one table row per
option (Δ accuracy and ROI per seed; costs from program.py's cost model), paired comparisons with Holm
correction on the paired t, bootstrap ratios of mean ROIs; the findings (findings.py) and the headline."""

from __future__ import annotations

import numpy as np

from exp.analysis import findings as F
from exp.analysis import stats
from exp.core.workdir import json_safe

from .program import ARMS, as_tuple, candidate_names, flops_per_step, macs_linear, macs_mlp, params_mlp

GFLOP = 1e9
ALPHA = 0.05  # significance level of every test, after Holm correction within a comparison family


# ---------------------------------------------------------------------------------------------------
# Options


def _continue_meta(config, k: int) -> dict:
  f_lin = flops_per_step(config, macs_linear(config))
  return dict(
    arm='continue',
    label=f'continue first choice, +{k} steps',
    steps=k,
    gflop=k * f_lin / GFLOP,
    gflop_with_pretrain=k * f_lin / GFLOP,
    width=None,
    recipe=None,
    params=config.input_dim * config.num_classes + config.num_classes,
  )


def _switch_meta(config, c: int, b: int) -> dict:
  names = candidate_names(config)
  w, rec = as_tuple(config.zoo_widths)[c], as_tuple(config.zoo_recipes)[c]
  ft = b * flops_per_step(config, macs_mlp(config, w)) / GFLOP
  pre = (
    config.zoo_pretrain_steps * flops_per_step(config, macs_mlp(config, w, config.source_classes)) / GFLOP
    if rec != 'scratch'
    else 0.0
  )
  return dict(
    arm='switch',
    label=f'switch to {names[c]} ({params_mlp(config, w)} params), {b} steps',
    steps=b,
    gflop=ft,
    gflop_with_pretrain=ft + pre,
    width=w,
    recipe=rec,
    params=params_mlp(config, w),
    candidate=names[c],
    pretrain_steps=config.zoo_pretrain_steps if rec != 'scratch' else 0,
  )


def options_of(runs: list[dict], config) -> dict:
  """One entry per option: {'arm', 'label', 'steps', 'gflop', 'gflop_with_pretrain', 'width', 'recipe',
  'params', 'by_seed': {seed: delta points}, 'acc': {seed: acc}, 'diverged': n}."""
  names = candidate_names(config)
  out: dict = {}
  for r in runs:
    if r['arm'] == 'continue':
      k = int(r['grid']['k'])
      key = f'continue@{k}'
      meta = _continue_meta(config, k)
    elif r['arm'] == 'switch':
      c, b = int(r['grid']['cand']), int(r['grid']['budget'])
      key = f'switch:{names[c]}@{b}'
      meta = _switch_meta(config, c, b)
    else:
      continue
    o = out.setdefault(key, dict(meta, by_seed={}, acc={}, acc0={}, diverged=0))
    if r['status'] == 'diverged':
      o['diverged'] += 1
      continue
    o['by_seed'][r['seed']] = 100.0 * r['metrics']['delta']
    o['acc'][r['seed']] = 100.0 * r['metrics']['acc']
    o['acc0'][r['seed']] = 100.0 * r['metrics']['acc0']
  return out


def _vec(o, seeds, field='by_seed'):
  return np.array([o[field].get(s, np.nan) for s in seeds], float)


def ratio_boot(num: np.ndarray, den: np.ndarray, n_boot: int, seed: int) -> dict:
  """Ratio of mean ROIs (num / den), percentile bootstrap over seeds (paired resampling). Reports how
  often the denominator's mean is ≤ 0 — then the ratio is undefined or flips sign, and a CI is not
  meaningful. Without a bootstrap (n_boot 0, or one seed) the CI is missing (nan), frac_den_le_0 is None
  and n_boot is 0: there are no resamples to count (n_den_le_0 counts them)."""
  ok = np.isfinite(num) & np.isfinite(den)
  num, den = num[ok], den[ok]
  out = {
    'ratio': float('nan'),
    'ci95': [float('nan'), float('nan')],
    'frac_den_le_0': None,
    'n': int(ok.sum()),
    'n_boot': 0,
    'n_den_le_0': 0,
  }
  if num.size == 0:
    return out
  md = float(den.mean())
  out['ratio'] = float(num.mean() / md) if md > 0 else float('nan')
  if n_boot and num.size > 1:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, size=(n_boot, num.size))
    mn, mdn = num[idx].mean(axis=1), den[idx].mean(axis=1)
    out['frac_den_le_0'] = float(np.mean(mdn <= 0))
    out['n_den_le_0'] = int(np.sum(mdn <= 0))
    out['n_boot'] = int(n_boot)
    # a resample whose training ROI is <= 0 makes switching "infinitely" better: rank it as +inf
    reps = np.where(mdn > 0, mn / np.where(mdn > 0, mdn, 1.0), np.inf)
    out['ci95'] = [
      float(np.quantile(reps, 0.025, method='lower')),
      float(np.quantile(reps, 0.975, method='higher')),
    ]
  return out


# ---------------------------------------------------------------------------------------------------
# Analysis


def _option_table(opts: dict, seeds: list) -> dict:
  table = {}
  for key, o in opts.items():
    delta = _vec(o, seeds)
    table[key] = {k: v for k, v in o.items() if k not in ('by_seed', 'acc', 'acc0')}
    table[key].update(
      delta=stats.describe(delta),
      acc=stats.describe(_vec(o, seeds, 'acc')),
      roi_gflop=stats.describe(delta / o['gflop']),
      roi_gflop_with_pretrain=stats.describe(delta / o['gflop_with_pretrain']),
      roi_100steps=stats.describe(delta / (o['steps'] / 100.0)),
      roi_100steps_with_pretrain=stats.describe(delta / ((o['steps'] + o.get('pretrain_steps', 0)) / 100.0)),
      delta_values=delta.tolist(),
    )
  return table


def _best(table, keys, field='roi_gflop'):
  vals = [(table[k][field]['mean'], k) for k in keys if np.isfinite(table[k][field]['mean'])]
  return max(vals)[1] if vals else None


def _paired(table, a, b, values_a=None, values_b=None):
  va = np.array(table[a]['delta_values']) if values_a is None else values_a
  vb = np.array(table[b]['delta_values']) if values_b is None else values_b
  return stats.compare(va, vb, paired=True)


def _row(table, a, b, what, cmp, **extra) -> dict:
  return dict(
    {'label': f'{short(table[a])} vs {short(table[b])} ({what})', 'a': a, 'b': b, 'cmp': cmp}, **extra
  )


def _size_comparisons(table: dict, sw: list, config) -> list:
  """Smaller vs larger candidates at the same budget: does a smaller one beat a larger one?"""
  out = []
  for b in as_tuple(config.switch_steps):
    at = [k for k in sw if table[k]['steps'] == b]
    for a in at:
      for o in at:
        if table[a]['params'] < table[o]['params']:
          ratio = table[o]['params'] / table[a]['params']
          what = f'{ratio:.1f}× larger; Δ points'
          out.append(_row(table, a, o, what, _paired(table, a, o), size_ratio=ratio))
  return out


def holm_paired(fam: list) -> None:
  """Holm over a family of paired comparisons, on the paired t's p (the test whose CI is shown)."""
  for c, p in zip(fam, stats.holm([c['cmp']['paired']['p'] for c in fam])):
    c['holm_p'] = p


def _comparisons(table: dict, opts: dict, sw: list, best_c, best_gain_c, config) -> dict:
  """Three families, each paired by seed and Holm-corrected on the paired t: every switch vs the best
  training attempt by ROI (ROI, pts/GFLOP), every switch vs the best training attempt by gain (Δ points),
  smaller vs larger candidates at the same budget (Δ points)."""
  comparisons = {'roi': [], 'gain': [], 'size': []}
  if best_c:
    roi_c = np.array(table[best_c]['delta_values']) / opts[best_c]['gflop']
    for k in sw:
      roi_s = np.array(table[k]['delta_values']) / opts[k]['gflop']
      cmp = _paired(table, k, best_c, roi_s, roi_c)
      comparisons['roi'].append(_row(table, k, best_c, 'ROI, pts/GFLOP', cmp))
  if best_gain_c:
    for k in sw:
      comparisons['gain'].append(_row(table, k, best_gain_c, 'Δ points', _paired(table, k, best_gain_c)))
  comparisons['size'] = _size_comparisons(table, sw, config)
  for fam in comparisons.values():
    holm_paired(fam)
  return comparisons


def size_win(c: dict, alpha: float) -> bool:
  """A smaller candidate significantly ahead of a larger one: Δ > 0 and Holm (paired) p < alpha."""
  d, p = c['cmp'].get('mean_diff'), c.get('holm_p')
  return bool(d is not None and p is not None and np.isfinite(d) and np.isfinite(p) and d > 0 and p < alpha)


def size_pick(size: list, alpha: float) -> int | None:
  """The one rule that picks the size comparison the report and the finding quote: significant wins first,
  then the larger size ratio, then the larger Δ. None when there is no comparison."""
  if not size:
    return None

  def key(i):
    c = size[i]
    d = c['cmp'].get('mean_diff')
    return (size_win(c, alpha), c['size_ratio'], d if d is not None and np.isfinite(d) else -np.inf)

  return max(range(len(size)), key=key)


def _ratios(table: dict, opts: dict, best_c, best_s, config) -> dict:
  """Best switch / best continue, in FLOPs and in steps, without and with the zoo's pretraining."""
  ratios = {}
  if best_c and best_s:
    for unit, with_pre in (('gflop', False), ('gflop', True), ('100steps', False), ('100steps', True)):
      cost_s = (
        (opts[best_s]['gflop_with_pretrain'] if with_pre else opts[best_s]['gflop'])
        if unit == 'gflop'
        else (opts[best_s]['steps'] + (opts[best_s].get('pretrain_steps', 0) if with_pre else 0)) / 100.0
      )
      cost_c = opts[best_c]['gflop'] if unit == 'gflop' else opts[best_c]['steps'] / 100.0
      ratios[f'{unit}{"_with_pretrain" if with_pre else ""}'] = ratio_boot(
        np.array(table[best_s]['delta_values']) / cost_s,
        np.array(table[best_c]['delta_values']) / cost_c,
        config.n_boot,
        config.seed,
      )
  return ratios


def _ratios_by_continue(table: dict, opts: dict, cont: list, best_s, config) -> dict:
  """The same best switch against every training attempt: how much does the choice of denominator
  matter?"""
  by_cont = {}
  if best_s:
    for k in cont:
      by_cont[k] = {}
      for unit in ('gflop', '100steps'):
        cs = opts[best_s]['gflop'] if unit == 'gflop' else opts[best_s]['steps'] / 100.0
        cc = opts[k]['gflop'] if unit == 'gflop' else opts[k]['steps'] / 100.0
        by_cont[k][unit] = ratio_boot(
          np.array(table[best_s]['delta_values']) / cs,
          np.array(table[k]['delta_values']) / cc,
          config.n_boot,
          config.seed,
        )
  return by_cont


def analyze(runs: list[dict], config) -> dict:
  opts = options_of(runs, config)
  seeds = sorted({r['seed'] for r in runs if r['arm'] in ARMS})
  pre = [r for r in runs if r['arm'] == 'pretrain']
  table = _option_table(opts, seeds)
  acc0_by_seed = {}
  for o in opts.values():
    acc0_by_seed.update(o['acc0'])  # the same decision point for every option of a seed
  acc0 = stats.describe(np.array([acc0_by_seed.get(s, np.nan) for s in seeds], float))

  cont = [k for k in table if table[k]['arm'] == 'continue']
  sw = [k for k in table if table[k]['arm'] == 'switch']
  best_c, best_s, best_gain_c = _best(table, cont), _best(table, sw), _best(table, cont, 'delta')
  comparisons = _comparisons(table, opts, sw, best_c, best_gain_c, config)
  analysis = {
    'seeds': seeds,
    'acc0': acc0,
    'options': table,
    'order': cont + sw,
    'best_continue': best_c,
    'best_continue_gain': best_gain_c,
    'ratios_by_continue': _ratios_by_continue(table, opts, cont, best_s, config),
    'best_switch': best_s,
    'comparisons': comparisons,
    'size_pick': size_pick(comparisons['size'], ALPHA),
    'ceiling': _ceiling(table, cont),
    'ratios': _ratios(table, opts, best_c, best_s, config),
    'pretrain': {
      'first_acc': stats.describe(
        np.array([r['metrics']['first_acc'] for r in pre if r['status'] == 'ok'], float) * 100
      ),
      'zoo_source_acc': stats.describe(
        np.array([r['metrics']['zoo_source_acc'] for r in pre if r['status'] == 'ok'], float) * 100
      ),
    },
    'n_diverged': sum(o['diverged'] for o in opts.values()),
  }
  from .findings import build_findings  # findings reads this module's helpers

  analysis['findings'] = build_findings(analysis, config)
  analysis['headline'] = F.headline_of(analysis['findings'][0])
  return json_safe(analysis)


def _ceiling(table: dict, cont: list) -> dict | None:
  """The premise: does the first choice still improve with more training? Δ of the longest training
  attempt minus Δ of the shortest, paired by seed."""
  if len(cont) < 2:
    return None
  short_k = min(cont, key=lambda k: table[k]['steps'])
  long_k = max(cont, key=lambda k: table[k]['steps'])
  return {'a': long_k, 'b': short_k, 'cmp': _paired(table, long_k, short_k)}


# ---------------------------------------------------------------------------------------------------
# Labels


def short(o) -> str:
  return f'continue +{o["steps"]}' if o['arm'] == 'continue' else f'{o["candidate"]}@{o["steps"]}'
