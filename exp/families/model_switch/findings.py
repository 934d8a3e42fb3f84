"""The model-switch family's findings (docs/families/model_switch.md, "Findings"): each write-up claim
with the checks that decide it, and the audit as checks. Every sentence here is a wording of a check, so
it is printed only when the numbers it shows give its outcome."""

from __future__ import annotations

import math

import numpy as np

from exp.analysis import stats
from exp.analysis.findings import above, all_of, below, check, claim, compare, finding, significant

from .analysis import ALPHA, short, size_win

# The write-up's numbers (comparison targets, never results).
CLAIM = {
  'train_roi_range': (-0.5, 0.2),
  'switch_gain': 19.0,
  'switch_roi': 3.8,
  'roi_ratio': 38.0,
  'size_ratio': 4.5,
}
CEILING_POINTS = 2.0  # "near its ceiling": the longest training attempt adds less than this over the shortest
ROI_BOUND = 1.0  # a ROI ratio above 1: switching returns more per unit cost than training
NO_GAIN = 0.0  # a gain (or a gain difference) above 0 points
P = {'holm_p': 'p', 'alpha': 'p'}


def _num(x):
  return float(x) if x is not None and np.isfinite(x) else None


def _ci(c):
  ci = (c or {}).get('ci95') or (c or {}).get('mean_diff_ci95')
  return list(ci) if ci is not None else [None, None]


def _shown(ci):
  """A CI as the check stores it: an unbounded or missing end is None (rendered "–"), so the stored
  numbers re-render to the same text; outcomes are computed from the CI before this."""
  return [x if x is not None and math.isfinite(x) else None for x in ci]


def _above_ratio(ci, bound):
  """above() for a ratio CI whose upper end may be +inf (a resample with training ROI ≤ 0)."""
  lo, hi = ci
  if lo is not None and math.isfinite(lo) and hi is not None and math.isinf(hi):
    return True if lo > bound else None
  return above(ci, bound)


def _row(an, fam, a):
  """The comparison of option ``a`` in family ``fam`` (None when absent)."""
  return next((c for c in an['comparisons'][fam] if c['a'] == a), None)


def _cmp_numbers(an, row) -> dict:
  if row is None:
    return {'diff': None, 'ci': [None, None], 'holm_p': None, 'alpha': ALPHA}
  return {'diff': row['cmp']['mean_diff'], 'ci': _ci(row['cmp']), 'holm_p': row['holm_p'], 'alpha': ALPHA}


def _name(an, key):
  return short(an['options'][key]) if key else '–'


def _beats_check(name, statement, an, fam, switch, training, what) -> dict:
  """The switch ahead of a training attempt in one comparison family: Δ > 0 and Holm (paired t) p < α."""
  nums = dict(
    switch=_name(an, switch), training=_name(an, training), **_cmp_numbers(an, _row(an, fam, switch))
  )
  outcome = all_of(compare(nums['diff'], '>', NO_GAIN), significant(nums['holm_p'], ALPHA))
  return check(
    name,
    statement,
    nums,
    outcome,
    yes=f'{{switch}} beats {{training}} in {what} by {{diff}} {{ci}}, paired t Holm p {{holm_p}} < {{alpha}}',
    no=f'{{switch}} does not significantly beat {{training}} in {what}: {{diff}} {{ci}}, paired t Holm p '
    '{holm_p} (α {alpha})',
    unsure=f'whether {{switch}} beats {{training}} in {what} is undecided: {{diff}} {{ci}}, paired t Holm p '
    '{holm_p} (α {alpha})',
    kinds=P,
  )


def _switch_gains(an) -> dict:
  bs = an['best_switch']
  d = an['options'][bs]['delta'] if bs else {}
  nums = {'option': _name(an, bs), 'gain': d.get('mean'), 'ci': _ci(d), 'bound': NO_GAIN}
  return check(
    'switch_gains',
    'the best switch by ROI gains accuracy over the decision point',
    nums,
    above(nums['ci'], NO_GAIN),
    yes='{option} gains {gain} {ci} points over the decision point (CI above {bound})',
    no='{option} gains {gain} {ci} points over the decision point: no gain (CI at or below {bound})',
    unsure='{option} gains {gain} {ci} points over the decision point: the CI straddles {bound}',
    claimed=CLAIM['switch_gain'],
  )


def _ratio(an) -> dict:
  r = an['ratios'].get('gflop') or {}
  ci = _ci(r)
  nums = {
    'ratio': r.get('ratio'),
    'ci': _shown(ci),
    'bound': ROI_BOUND,
    'n_boot': r.get('n_boot', 0),
    'den_le_0': r.get('n_den_le_0', 0),
  }
  boot = ' ({den_le_0} of {n_boot} bootstrap resamples had training ROI ≤ 0; such a resample leaves the CI unbounded)'
  return check(
    'ratio',
    'the ROI ratio, best switch / best training attempt (pts/GFLOP), lies above 1',
    nums,
    _above_ratio(ci, ROI_BOUND),
    yes='ROI ratio {ratio}× {ci} lies above {bound}×' + boot,
    no='ROI ratio {ratio}× {ci} lies at or below {bound}×: training returns at least as much per FLOP' + boot,
    unsure='ROI ratio {ratio}× {ci} is undecided against {bound}×' + boot,
    claimed=CLAIM['roi_ratio'],
  )


def _magnitude(an) -> dict:
  r = an['ratios'].get('gflop') or {}
  lo, hi = _ci(r)
  nums = {'claimed': CLAIM['roi_ratio'], 'ratio': r.get('ratio'), 'ci': _shown([lo, hi])}
  hi_ok = True if hi is not None and math.isinf(hi) else compare(hi, '>=', CLAIM['roi_ratio'])
  return check(
    'magnitude',
    "the write-up's ROI ratio lies inside our ratio's CI (its minutes of wall clock vs our FLOPs)",
    nums,
    all_of(compare(lo, '<=', CLAIM['roi_ratio']), hi_ok),
    yes="the write-up's {claimed}× lies inside our ROI ratio's CI {ci} (ratio {ratio}×)",
    no="the write-up's {claimed}× lies outside our ROI ratio's CI {ci} (ratio {ratio}×)",
    unsure="whether the write-up's {claimed}× lies inside our ROI ratio's CI is undecided: ratio {ratio}×, "
    'CI {ci}',
    role='audit',
  )


def _denominator_gain(an) -> dict:
  bc = an['best_continue']
  d = an['options'][bc]['delta'] if bc else {}
  nums = {'training': _name(an, bc), 'gain': d.get('mean'), 'ci': _ci(d), 'bound': NO_GAIN}
  return check(
    'denominator_gain',
    "the ratio's denominator, the best training attempt's gain, lies clearly above 0",
    nums,
    above(nums['ci'], NO_GAIN),
    yes="the ratio's denominator, {training}'s gain {gain} {ci} points, lies above {bound}",
    no="the ratio's denominator, {training}'s gain {gain} {ci} points, lies at or below {bound}: the "
    'ratio is undefined or flips sign',
    unsure="the ratio's denominator, {training}'s gain {gain} {ci} points, reaches {bound}: the ratio has "
    'no finite upper bound in principle',
    role='audit',
  )


def _denominator_choice(an) -> dict:
  rbc = an.get('ratios_by_continue') or {}
  vals = sorted((v['gflop']['ratio'], k) for k, v in rbc.items() if (_num(v['gflop']['ratio']) or 0) > 0)
  lo_ci, hi_ci = _ci(an['ratios'].get('gflop'))
  ci_spread = hi_ci / lo_ci if _num(lo_ci) and lo_ci > 0 and _num(hi_ci) else None
  nums = {
    'low': vals[0][0] if len(vals) > 1 else None,
    'low_vs': _name(an, vals[0][1]) if len(vals) > 1 else '–',
    'high': vals[-1][0] if len(vals) > 1 else None,
    'high_vs': _name(an, vals[-1][1]) if len(vals) > 1 else '–',
    'spread': vals[-1][0] / vals[0][0] if len(vals) > 1 else None,
    'ci_spread': ci_spread,
  }
  head = 'the same switch has ROI ratio {low}× against {low_vs} and {high}× against {high_vs} (FLOPs), '
  return check(
    'denominator_choice',
    'the choice of training attempt in the denominator moves the ratio more than its own CI spans',
    nums,
    compare(nums['spread'], '>', nums['ci_spread']),
    yes=head + "a factor {spread}, wider than the headline ratio's CI (factor {ci_spread}): a single "
    '"N× ROI" mostly reflects which attempt is put in the denominator',
    no=head + "a factor {spread}, no wider than the headline ratio's CI (factor {ci_spread})",
    unsure=head + "a factor {spread} against the headline ratio's CI factor {ci_spread}: undecided (a "
    'ratio or a CI bound is missing or unbounded)',
    role='audit',
  )


def _pretrain_charged(an) -> dict:
  bs, r = an['best_switch'], an['ratios'].get('gflop_with_pretrain') or {}
  o = an['options'][bs] if bs else {}
  extra = o['gflop_with_pretrain'] - o['gflop'] if bs else None
  ci = _ci(r)
  nums = {
    'option': _name(an, bs),
    'extra': extra,
    'ratio': r.get('ratio'),
    'ci': _shown(ci),
    'bound': ROI_BOUND,
  }
  head = "charging the zoo's pretraining of {option} ({extra} GFLOP) gives ROI ratio {ratio}× {ci}"
  return check(
    'pretrain_charged',
    "switching still returns more per FLOP when the zoo's pretraining is charged",
    nums,
    _above_ratio(ci, ROI_BOUND),
    yes=head + ', above {bound}×: switching still pays per FLOP spent in total',
    no=head + ', at or below {bound}×: per FLOP spent in total, continuing the first choice returns as '
    'much or more',
    unsure=head + ', undecided against {bound}×',
    role='audit',
  )


def _cost_unit(an) -> dict:
  rf, rs = an['ratios'].get('gflop') or {}, an['ratios'].get('100steps') or {}
  nums = {
    'flops': rf.get('ratio'),
    'flops_ci': _shown(_ci(rf)),
    'steps': rs.get('ratio'),
    'steps_ci': _shown(_ci(rs)),
    'bound': ROI_BOUND,
  }
  a, b = _above_ratio(_ci(rf), ROI_BOUND), _above_ratio(_ci(rs), ROI_BOUND)
  head = 'ROI ratio {flops}× {flops_ci} in FLOPs, {steps}× {steps_ci} in optimizer steps (the wall-clock '
  return check(
    'cost_unit',
    'FLOPs vs wall clock: the ratio falls on the same side of 1 in both cost units',
    nums,
    None if a is None or b is None else a == b,
    yes=head + 'proxy on overhead-bound hardware): both on the same side of {bound}×',
    no=head + 'proxy on overhead-bound hardware): on opposite sides of {bound}×, so the cost unit decides',
    unsure=head + 'proxy on overhead-bound hardware): at least one is undecided against {bound}×',
    role='audit',
  )


def _ceiling(an) -> dict:
  c = an.get('ceiling')
  cmp = c['cmp'] if c else {}
  nums = {
    'first_acc': an['pretrain']['first_acc'].get('mean'),
    'longest': _name(an, c['a'] if c else None),
    'shortest': _name(an, c['b'] if c else None),
    'extra': cmp.get('mean_diff'),
    'ci': _ci(cmp),
    'margin': CEILING_POINTS,
  }
  tail = '{longest} adds {extra} {ci} points over {shortest} (from {first_acc}% at the decision point)'
  return check(
    'ceiling',
    'the premise: the first choice sits near its own ceiling (more training adds less than the margin)',
    nums,
    below(nums['ci'], CEILING_POINTS),
    yes='the first choice sits near its own ceiling: ' + tail + ', less than {margin}',
    no='the first choice is still improving: ' + tail + ", at least {margin}; the claim's premise (a "
    'baseline that training cannot fix) does not hold',
    unsure='whether the first choice has stopped improving is undecided: ' + tail + ', the CI straddles '
    '{margin}',
    role='audit',
  )


def _switch_finding(an) -> dict:
  bs, bg = an['best_switch'], an['best_continue_gain']
  checks = [
    _switch_gains(an),
    _beats_check(
      'gain',
      'the switch gains more accuracy than the best training attempt by gain',
      an,
      'gain',
      bs,
      bg,
      'accuracy (points)',
    ),
    _beats_check(
      'roi',
      "the switch's ROI exceeds the best training attempt's by ROI",
      an,
      'roi',
      bs,
      an['best_continue'],
      'ROI (pts/GFLOP)',
    ),
    _ratio(an),
  ]
  checks += [_magnitude(an), _denominator_gain(an), _denominator_choice(an), _pretrain_charged(an)]
  checks += [_cost_unit(an), _ceiling(an)]
  row = _row(an, 'gain', bs)
  effect = seeds = None
  if row is not None:
    effect = {
      'name': f'Δ accuracy, {_name(an, bs)} − {_name(an, bg)} (points, paired by seed)',
      'value': row['cmp']['mean_diff'],
      'ci95': row['cmp']['mean_diff_ci95'],
    }
    t = an['options']
    seeds = stats.seed_sufficiency(t[bs]['delta_values'], t[bg]['delta_values'], paired=True)
  the_claim = claim(
    'When baseline accuracy is poor, switching to a better-suited model beats continuing to train: '
    'training attempts (2 h … 2.6 min) gained −0.5…+0.2 %/min, a 5-minute switch +19 points (+3.8 %/min), '
    'a 38× return on investment',
    {
      'training ROI (%/min)': list(CLAIM['train_roi_range']),
      'switch gain (points)': CLAIM['switch_gain'],
      'switch ROI (%/min)': CLAIM['switch_roi'],
      'ROI ratio': CLAIM['roi_ratio'],
    },
  )
  return finding(
    'switch_vs_training', 'Switching beats continued training', the_claim, checks, effect=effect, seeds=seeds
  )


def _size_finding(an) -> dict:
  size, i = an['comparisons']['size'], an['size_pick']
  c = size[i] if i is not None else None
  t = an['options']
  nums = {
    'small': _name(an, c['a'] if c else None),
    'large': _name(an, c['b'] if c else None),
    'size_ratio': c['size_ratio'] if c else None,
    **_cmp_numbers(an, c),
  }
  win = all_of(compare(nums['diff'], '>', NO_GAIN), significant(nums['holm_p'], ALPHA))
  wins = [s for s in size if size_win(s, ALPHA)]
  same = sum(t[s['a']]['recipe'] == t[s['b']]['recipe'] for s in wins)
  body = '{small} vs the {size_ratio}× larger {large}: {diff} {ci} points, paired t Holm p {holm_p}'
  checks = [
    check(
      'smaller_wins',
      'a smaller candidate beats a larger one at the same fine-tuning budget (the pair quoted: '
      'significant wins first, then the largest size ratio)',
      nums,
      win,
      yes=body + ' < {alpha}: the smaller model wins',
      no='no smaller candidate significantly beats a larger one; ' + body + ' (α {alpha})',
      unsure='undecided: ' + body + ' (α {alpha})',
      kinds=P,
      claimed=CLAIM['size_ratio'],
    ),
    check(
      'recipe',
      "the smaller winner's edge comes from its recipe, not its size",
      {'same': same, 'cross': len(wins) - same},
      None if not wins else (same == 0),
      yes='{cross} significant smaller-beats-larger wins across recipes, {same} between candidates of the '
      'same recipe: the recipe, not the size, puts the smaller model ahead',
      no='{same} significant wins of a smaller over a larger candidate of the same recipe ({cross} across '
      'recipes): size alone can favour the smaller model',
      unsure='no significant smaller-beats-larger win ({same} same-recipe, {cross} across recipes): '
      'nothing to attribute',
      role='audit',
    ),
  ]
  effect = seeds = None
  if c is not None:
    effect = {
      'name': f'Δ accuracy, {nums["small"]} − {nums["large"]} (points, paired by seed)',
      'value': c['cmp']['mean_diff'],
      'ci95': c['cmp']['mean_diff_ci95'],
    }
    seeds = stats.seed_sufficiency(t[c['a']]['delta_values'], t[c['b']]['delta_values'], paired=True)
  the_claim = claim('A smaller model suited to the task beat a 4.5× larger one', {'size ratio': 4.5})
  return finding(
    'smaller_beats_larger',
    'A smaller model beats a larger one',
    the_claim,
    checks,
    effect=effect,
    seeds=seeds,
  )


def build_findings(analysis: dict, config) -> list[dict]:
  """The family's findings, the main claim first: switching beats continued training (gain, ROI and
  the ROI ratio; audit: the ratio's denominator, charging the zoo's pretraining, FLOPs vs steps, the
  premise), then a smaller model beats a larger one (audit: recipe vs size)."""
  del config  # every threshold is a named constant above or ALPHA
  return [_switch_finding(analysis), _size_finding(analysis)]
