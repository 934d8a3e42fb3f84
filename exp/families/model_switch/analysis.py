"""Host-side statistics of the model-switch family (docs/families/model_switch.md): one table row per
option (Δ accuracy and ROI per seed; costs from program.py's cost model), paired comparisons with Holm
correction, bootstrap ratios of mean ROIs, and the headline."""

from __future__ import annotations

import numpy as np

from exp.analysis import report, stats
from exp.core.workdir import json_safe

from .program import ARMS, as_tuple, candidate_names, flops_per_step, macs_linear, macs_mlp, params_mlp

GFLOP = 1e9


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
  meaningful."""
  ok = np.isfinite(num) & np.isfinite(den)
  num, den = num[ok], den[ok]
  out = {
    'ratio': float('nan'),
    'ci95': [float('nan'), float('nan')],
    'frac_den_le_0': float('nan'),
    'n': int(ok.sum()),
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


def _size_comparisons(table: dict, sw: list, config) -> list:
  """Smaller vs larger candidates at the same budget: does a smaller one beat a larger one?"""
  out = []
  for b in as_tuple(config.switch_steps):
    at = [k for k in sw if table[k]['steps'] == b]
    for a in at:
      for o in at:
        if table[a]['params'] < table[o]['params']:
          out.append(
            {
              'label': f'{short(table[a])} vs {short(table[o])} ({table[o]["params"] / table[a]["params"]:.1f}× '
              'larger; Δ points)',
              'a': a,
              'b': o,
              'size_ratio': table[o]['params'] / table[a]['params'],
              'cmp': _paired(table, a, o),
            }
          )
  return out


def _comparisons(table: dict, opts: dict, cont: list, sw: list, best_c, config) -> dict:
  comparisons = {'roi': [], 'gain': [], 'size': []}
  if best_c:
    roi_c = np.array(table[best_c]['delta_values']) / opts[best_c]['gflop']
    for k in sw:
      roi_s = np.array(table[k]['delta_values']) / opts[k]['gflop']
      comparisons['roi'].append(
        {
          'label': f'{short(table[k])} vs {short(table[best_c])} (ROI, pts/GFLOP)',
          'a': k,
          'b': best_c,
          'cmp': _paired(table, k, best_c, roi_s, roi_c),
        }
      )
    longest = max(cont, key=lambda k: table[k]['steps'])
    for k in sw:
      comparisons['gain'].append(
        {
          'label': f'{short(table[k])} vs {short(table[longest])} (Δ points)',
          'a': k,
          'b': longest,
          'cmp': _paired(table, k, longest),
        }
      )
  comparisons['size'] = _size_comparisons(table, sw, config)
  for fam in comparisons.values():
    for c, p in zip(fam, stats.holm([c['cmp']['student']['p'] for c in fam])):
      c['holm_p'] = p
  return comparisons


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
  best_c, best_s = _best(table, cont), _best(table, sw)
  comparisons = _comparisons(table, opts, cont, sw, best_c, config)
  ratios = _ratios(table, opts, best_c, best_s, config)
  by_cont = _ratios_by_continue(table, opts, cont, best_s, config)
  analysis = {
    'seeds': seeds,
    'acc0': acc0,
    'options': table,
    'order': cont + sw,
    'best_continue': best_c,
    'ratios_by_continue': by_cont,
    'best_switch': best_s,
    'comparisons': comparisons,
    'ratios': ratios,
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
  analysis['headline'] = _headline(analysis)
  return json_safe(analysis)


# ---------------------------------------------------------------------------------------------------
# Headline


def short(o) -> str:
  return f'continue +{o["steps"]}' if o['arm'] == 'continue' else f'{o["candidate"]}@{o["steps"]}'


def _significant_size_wins(an: dict) -> list:
  return [c for c in an['comparisons']['size'] if c['cmp']['mean_diff'] > 0 and c['holm_p'] < 0.05]


def _result_parts(an: dict):
  """The measured result as text parts, and the headline effect (the FLOP ROI ratio)."""
  t, bc, bs = an['options'], an['best_continue'], an['best_switch']
  parts, effect = [], None
  cont = [k for k in an['order'] if t[k]['arm'] == 'continue']
  if cont:
    rois = [t[k]['roi_gflop']['mean'] for k in cont]
    parts.append(
      f'continued training gained {report.fmt(min(t[k]["delta"]["mean"] for k in cont))}…'
      f'{report.fmt(max(t[k]["delta"]["mean"] for k in cont))} points, ROI '
      f'{report.fmt(min(rois))}…{report.fmt(max(rois))} pts/GFLOP'
    )
  if bs:
    parts.append(
      f'best switch ({short(t[bs])}) +{report.fmt(t[bs]["delta"]["mean"])} points '
      f'[{report.fmt(t[bs]["delta"]["ci95"][0])}, {report.fmt(t[bs]["delta"]["ci95"][1])}], ROI '
      f'{report.fmt(t[bs]["roi_gflop"]["mean"])} pts/GFLOP'
    )
  r = an['ratios'].get('gflop')
  if r:
    parts.append(
      f'ROI ratio {report.fmt(r["ratio"])}× [{report.fmt(r["ci95"][0])}, {report.fmt(r["ci95"][1])}] '
      f'(denominator ≤ 0 in {report.fmt(100 * r["frac_den_le_0"])}% of resamples)'
    )
    effect = {
      'name': f'ROI ratio, best switch ({short(t[bs])}) / best continue ({short(t[bc])}), pts/GFLOP',
      'value': r['ratio'],
      'ci95': r['ci95'],
    }
    rp = an['ratios'].get('gflop_with_pretrain')
    if rp:
      parts.append(
        f"charging the zoo's pretraining: {report.fmt(rp['ratio'])}× "
        f'[{report.fmt(rp["ci95"][0])}, {report.fmt(rp["ci95"][1])}]'
      )
  size = _significant_size_wins(an)
  if size:
    c = max(size, key=lambda c: c['size_ratio'])
    parts.append(
      f'{short(t[c["a"]])} beat the {report.fmt(c["size_ratio"])}× larger {short(t[c["b"]])} by '
      f'{report.fmt(c["cmp"]["mean_diff"])} points (Holm p {report.fmt_p(c["holm_p"])})'
    )
  return parts, effect


def _verdict(an: dict):
  """(verdict text, reproduced: True / False / None when there is not enough to compare)."""
  bs, r, size = an['best_switch'], an['ratios'].get('gflop'), _significant_size_wins(an)
  roi_sig = [c for c in an['comparisons']['roi'] if c['a'] == bs]
  gain_sig = [c for c in an['comparisons']['gain'] if c['a'] == bs]
  if not (r and roi_sig and gain_sig):
    return 'not enough options to compare', None
  gain_better = gain_sig[0]['cmp']['mean_diff'] > 0 and gain_sig[0]['holm_p'] < 0.05
  roi_better = roi_sig[0]['cmp']['mean_diff'] > 0 and roi_sig[0]['holm_p'] < 0.05
  ratio_big = r['ci95'][0] is not None and r['ci95'][0] > 1
  reproduced = bool(gain_better and roi_better and ratio_big and bool(size))
  held = [
    txt
    for ok, txt in (
      (gain_better, 'the switch gains significantly more than the longest training attempt'),
      (roi_better and ratio_big, "its ROI beats the best training attempt's (ratio CI above 1)"),
      (bool(size), 'a smaller candidate beats a larger one (Holm p < 0.05)'),
    )
    if ok
  ]
  failed = [
    txt
    for ok, txt in (
      (gain_better, 'the switch does not gain significantly more than the longest training attempt'),
      (
        roi_better and ratio_big,
        "its ROI is not clearly above the best training attempt's (paired test or ratio CI reaches 1)",
      ),
      (bool(size), 'no smaller candidate significantly beats a larger one'),
    )
    if not ok
  ]
  if reproduced:
    return 'reproduced: ' + '; '.join(held), reproduced
  verdict = (
    ('partly reproduced: ' + '; '.join(held) + '; but ' + '; '.join(failed))
    if held
    else ('not reproduced: ' + '; '.join(failed))
  )
  return verdict, reproduced


def _headline(an: dict) -> dict:
  parts, effect = _result_parts(an)
  verdict, reproduced = _verdict(an)
  return {
    'finding': 'Model switching vs continued training: ROI',
    'claim': 'training gained −0.5…+0.2 %/min; a 5-min switch +19 points (+3.8 %/min), 38× ROI; a smaller '
    'model beat a 4.5× larger one',
    'result': '; '.join(parts),
    'effect': effect,
    'verdict': verdict,
    'reproduced': reproduced,
  }
