"""The claim audit and the headline of the LoRA collapse family (host, numpy): does each (arm, rank) show a
binary collapse threshold, does the lr or the rank set it, how far apart the write-up's own runs were, and
the verdict. See docs/families/lora_collapse.md.
"""

from __future__ import annotations

import math

import numpy as np

from exp.analysis import report

# The write-up's runs, inputs to the audit and the table (never used as results).
CLAIM_RUNS = (
  {'lr': 2e-4, 'rank': 128, 'accuracy': 0.02, 'collapsed': True},
  {'lr': 5e-5, 'rank': 64, 'accuracy': 0.00, 'collapsed': True},
  {'lr': 5e-6, 'rank': 32, 'accuracy': 0.735, 'collapsed': False},
)
CLAIM_UNTUNED = 0.73


def judge(g, config) -> dict:
  """Does one (arm, rank) show a binary collapse threshold inside the lr grid? Five checks: the logistic
  center lies inside the grid; collapse is on above the onset (>= 90% of runs) and off below it (<= 10%); the
  10-90% width is at most max_width_decades; at most max_intermediate of the runs near c have an
  intermediate accuracy."""
  sides, fit, b = g.get('sides') or {}, g['fit'] or {}, g.get('binary') or {}
  rate = lambda k, n: sides[k] / sides[n] if sides.get(n) else None
  above, below = rate('above_collapsed', 'above_n'), rate('below_collapsed', 'below_n')
  w = fit.get('width_10_90')
  checks = {
    'threshold_in_grid': g['threshold_in_grid'],
    'collapsed_above': above is not None and above >= 0.9,
    'intact_below': below is not None and below <= 0.1,
    'narrow': w is not None and np.isfinite(w) and w <= config.max_width_decades,
    'few_intermediate': b.get('fraction') is not None and b['fraction'] <= config.max_intermediate,
  }
  return {'checks': checks, 'binary_threshold': all(checks.values())}


def audit(an: dict, config) -> dict:
  arm = 'classify' if 'classify' in an['arms'] else next(iter(an['arms']), None)
  out = {'arm': arm}
  if arm is None:
    return out
  a = an['arms'][arm]
  judged = {r: judge(g, config) for r, g in a['by_rank'].items()}
  out['judged'] = {r: j['checks'] for r, j in judged.items()}
  with_threshold = [r for r, g in a['by_rank'].items() if g['threshold_in_grid']]
  out['centers'] = {r: a['by_rank'][r]['fit']['center'] for r in with_threshold}
  re = a['rank_effect']
  # Does the rank move the threshold? Either estimate counts: the logistic centers (seed bootstrap) or the
  # per-seed thresholds (paired; robust to the non-monotone tail a logistic fit cannot follow).
  evidence = []
  if re and re['delta_c_ci95'][0] is not None and not re['delta_c_ci95'][0] <= 0 <= re['delta_c_ci95'][1]:
    evidence.append('logistic centers')
  cmp = (re or {}).get('per_seed', {}).get('compare') or {}
  p = (cmp.get('paired') or {}).get('p')
  if p is not None and np.isfinite(p) and p < 0.05:
    evidence.append('per-seed thresholds')
  out['rank_evidence'] = evidence
  if not with_threshold:
    out['attribution'] = 'neither'
  elif len(with_threshold) < len(a['by_rank']) or evidence:
    out['attribution'] = 'both'
  else:
    out['attribution'] = 'lr'
  # The source's confound: its collapsed and working runs differ by this many decades in lr and x in rank.
  src_lr_gap = math.log10(CLAIM_RUNS[0]['lr'] / CLAIM_RUNS[2]['lr'])
  out['source_lr_gap_decades'] = src_lr_gap
  out['source_rank_ratio'] = CLAIM_RUNS[0]['rank'] / CLAIM_RUNS[2]['rank']
  if re:
    out['rank_ratio'] = re['ranks'][1] / re['ranks'][0]
  widths = [a['by_rank'][r]['fit']['width_10_90'] for r in with_threshold]
  out['max_width'] = max(widths) if widths else None
  # "Working" vs untuned: gain over the base at the smallest lr and at the best lr (medians, per rank).
  gains = {}
  for r, g in a['by_rank'].items():
    rows, base = g['rows'], g['base_accuracy_median']
    if base is None or not g['peak']:
      continue
    gains[r] = {
      'smallest_lr': rows[0]['lr'],
      'gain_smallest': rows[0]['accuracy_median'] - base,
      'best_lr': g['peak']['lr'],
      'gain_best': g['peak']['accuracy_median'] - base,
      'base': base,
    }
  out['gains'] = gains
  return out


def lr_txt(lr) -> str:
  return 'lr –' if lr is None else f'{lr:.3g}'


def _rank_result(r, g) -> str:
  """One rank's part of the headline result: its threshold, width, intermediate runs and edge accuracy."""
  f = g['fit'] or {}
  if not g['threshold_in_grid']:
    rows = g['rows']
    return (
      f'r{r}: no threshold in the grid (collapsed {sum(x["collapsed"] for x in rows)}/'
      f'{sum(x["n"] for x in rows)})'
    )
  ci = f['center_ci95']
  b = g.get('binary') or {}
  e = g.get('edge') or {}
  txt = (
    f'r{r}: threshold {lr_txt(10 ** f["center"])} '
    f'[{lr_txt(10 ** ci[0] if ci[0] is not None else None)}, '
    f'{lr_txt(10 ** ci[1] if ci[1] is not None else None)}], 10–90% width '
    f'{report.fmt(f["width_10_90"])} decades'
  )
  if b.get('near_n'):
    txt += f', intermediate {b["intermediate_n"]}/{b["near_n"]} runs near it'
  if e.get('accuracy'):
    txt += (
      f', accuracy {report.fmt(e["accuracy"]["mean_a"])} at lr {lr_txt(e["below_lr"])} → '
      f'{report.fmt(e["accuracy"]["mean_b"])} at {lr_txt(e["above_lr"])}'
    )
  return txt


def _arm_result(a_name, a) -> str:
  bits = [_rank_result(r, g) for r, g in a['by_rank'].items()]
  re = a['rank_effect']
  if re and re['delta_c'] is not None:
    lo, hi = re['delta_c_ci95']
    bits.append(
      f'Δc(r{re["ranks"][1]} − r{re["ranks"][0]}) = {report.fmt(re["delta_c"])} '
      f'[{report.fmt(lo)}, {report.fmt(hi)}] decades'
    )
  return f'{a_name}: ' + '; '.join(bits)


def _effect(an: dict, arm) -> dict | None:
  """The headline effect: the 10–90% width of the audited arm's smallest rank."""
  g0 = an['arms'][arm]['by_rank'][str(min(int(r) for r in an['arms'][arm]['by_rank']))]
  f0 = g0['fit'] or {}
  effect = None
  if f0.get('width_10_90') is not None:
    r0 = min(int(r) for r in an['arms'][arm]['by_rank'])
    effect = {
      'name': f'10–90% width of P(collapse) vs log10 lr, {arm} r{r0} (decades)',
      'value': f0['width_10_90'],
      'ci95': f0.get('width_ci95'),
    }
  return effect


def _verdict(au: dict, judged: dict, reproduced: bool, config) -> str:
  attribution = {
    'lr': 'the lr alone sets the threshold (the rank does not move it detectably)',
    'both': 'the lr sets the threshold and the rank shifts it',
    'neither': 'no collapse inside the lr grid',
  }[au['attribution']]
  words = {
    'threshold_in_grid': 'a threshold inside the lr grid',
    'collapsed_above': '≥ 90% collapsed above the onset',
    'intact_below': '≤ 10% collapsed below the onset',
    'narrow': f'10–90% width ≤ {report.fmt(config.max_width_decades)} decade',
    'few_intermediate': f'≤ {report.fmt(100 * config.max_intermediate)}% intermediate runs near c',
  }
  failed = [
    f'{words[k]} (r{", r".join(r for r, c in judged.items() if not c[k])})'
    for k in words
    if any(not c[k] for c in judged.values())
  ]
  exists = bool(judged) and all(
    c['threshold_in_grid'] and c['collapsed_above'] and c['intact_below'] for c in judged.values()
  )
  if reproduced:
    return f'reproduced: collapse is binary at an lr threshold at every rank; {attribution}'
  if exists:
    return (
      f'partly reproduced: an lr threshold exists at every rank (collapse on above it, off below), but '
      f'the transition is not binary by our criteria (failed: {"; ".join(failed)}); {attribution}'
    )
  return f'not reproduced (failed: {"; ".join(failed) or "–"}); {attribution}'


def headline(an: dict, config) -> dict:
  au = an['audit']
  arm = au.get('arm')
  claim = (
    'LoRA runs at lr 2e-4 (r128) and 5e-5 (r64) collapsed to one constant string (2%, 0%); lr 5e-6 '
    '(r32) reached 73.5%: collapse is binary at an lr threshold'
  )
  base = {'finding': 'LoRA mode collapse at a learning-rate threshold', 'claim': claim}
  if arm is None:
    return dict(base, result='no runs', effect=None, verdict='not enough runs to judge', reproduced=None)
  parts = [_arm_result(a_name, a) for a_name, a in an['arms'].items()]
  judged = au.get('judged', {})
  reproduced = bool(judged) and all(all(c.values()) for c in judged.values())
  effect = _effect(an, arm)
  verdict = _verdict(au, judged, reproduced, config)
  return dict(base, result='; '.join(parts), effect=effect, verdict=verdict, reproduced=reproduced)
