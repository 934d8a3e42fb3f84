"""Findings of the degeneration family: the write-up's claim and the issue's expected mechanism as checks
over the analysis' numbers (docs/families/degeneration.md).

``build_findings(analysis, config)`` returns three findings (exp/analysis/findings.py):
- ``mechanism``: loops rise under the order-blind discriminator (vs the MLE control) while the
  exact-duplicate ratio stays near 0 and the judge's score rises (audit: the order-aware discriminator
  gives fewer loops than the order-blind one);
- ``detection``: the degeneration metric (seq-rep-n, largest n) flags looping samples (AUROC against the
  loop flag), the judge and exact-duplicate dedup do not (audit: compression, rep/l);
- ``writeup``: the write-up's numbers beside ours: the judge's score of looping outputs (7.9/10) and
  dedup missing loops inside responses.
Every threshold is a config value (alpha, dup_bound, auroc_bound, judge_bound) or a named constant here.
"""

from __future__ import annotations

import numpy as np

from exp.analysis import findings as F
from exp.analysis import stats
from exp.families.degeneration.analysis import rep_ns

CLAIM = {'judge_loops': 7.9, 'judge_scale': 10}
TITLES = {
  'mechanism': 'Loops under an order-blind discriminator, unseen by dedup, liked by the judge',
  'detection': 'Degeneration metrics flag loops; the judge and dedup do not',
  'writeup': "The write-up's numbers: judge score of looping outputs, dedup and loops",
}


def _arr(x) -> np.ndarray:
  return np.array([np.nan if v is None else v for v in (x or [])], float)


def _ci(d) -> list:
  return list((d or {}).get('ci95') or [None, None])


def rise(cmp: dict | None, alpha: float) -> bool | None:
  """a − b rose: True when the paired CI lies above 0 and the Holm-adjusted paired p < alpha; False when
  the CI lies at or below 0 (or, with no spread, the mean difference is <= 0); else None."""
  if not cmp:
    return None
  ci, diff = cmp.get('mean_diff_ci95'), cmp.get('mean_diff')
  above = F.above(ci, 0.0)
  if above is True:
    return True if F.significant(cmp.get('holm_p'), alpha) else None
  if above is False:
    return False
  if F.compare(ci[0] if ci else None, '<=', 0.0) is None and F.compare(diff, '<=', 0.0):
    return False  # zero spread (e.g. no loops in either arm): nothing rose
  return None


def _cmp(an: dict, pair: str, metric: str) -> dict:
  return ((an.get('comparisons') or {}).get(pair) or {}).get(metric) or {}


def _rise_check(an, config, name, pair, metric, what, role='claim', claimed=None) -> dict:
  c = _cmp(an, pair, metric)
  a, b = pair.split('-')
  nums = {
    'a': a,
    'b': b,
    'mean_a': c.get('mean_a'),
    'mean_b': c.get('mean_b'),
    'diff': c.get('mean_diff'),
    'ci': c.get('mean_diff_ci95') or [None, None],
    'g': c.get('hedges_g'),
    'p': c.get('holm_p'),
    'alpha': config.alpha,
  }
  return F.check(
    name,
    f'{what} is higher in arm {a} than in arm {b} (paired by seed, Holm over the metrics)',
    nums,
    rise(c, config.alpha),
    yes=f'{what} is higher in arm {{a}} than in arm {{b}}: {{mean_a}} vs {{mean_b}}, difference {{diff}} '
    '{ci} (Hedges g {g}, Holm p {p} < {alpha})',
    no=f'{what} is not higher in arm {{a}} than in arm {{b}}: {{mean_a}} vs {{mean_b}}, difference {{diff}} '
    '{ci} (Hedges g {g}, Holm p {p}; alpha {alpha})',
    unsure=f'whether {what} is higher in arm {{a}} than in arm {{b}} is undecided: {{mean_a}} vs {{mean_b}}, difference '
    '{diff} {ci} (Hedges g {g}, Holm p {p}; alpha {alpha}); the CI straddles 0, p is not below alpha, '
    'or an arm is missing',
    kinds={'p': 'p'},
    role=role,
    claimed=claimed,
  )


def _mechanism(an: dict, config) -> dict:
  the_claim = F.claim(
    'GAN-style training against a discriminator produces repetition loops inside responses, while '
    'exact-duplicate deduplication finds almost nothing and the judge scores the outputs higher',
    {'judge score of looping outputs': CLAIM['judge_loops']},
    source='the write-up; SeqGAN (Yu et al. 2017); the issue expects the order-blind discriminator to cause it',
  )
  d = ((an.get('describe') or {}).get('blind') or {}).get('dup_ratio') or {}
  dup = {'dup': d.get('mean'), 'ci': _ci(d), 'bound': config.dup_bound}
  checks = [
    _rise_check(an, config, 'loops_rise', 'blind-mle', 'loop', 'the share of looping samples'),
    F.check(
      'dup_near_zero',
      'the exact-duplicate ratio of the order-blind arm stays near 0 (its 95% CI below dup_bound)',
      dup,
      F.below(dup['ci'], config.dup_bound),
      yes='the exact-duplicate ratio of arm blind stays near 0: {dup} {ci}, below {bound}',
      no='exact duplicates are not rare in arm blind: ratio {dup} {ci}, at or above {bound}',
      unsure='whether the exact-duplicate ratio of arm blind stays below {bound} is undecided: {dup} {ci}',
    ),
    _rise_check(an, config, 'judge_rises', 'blind-mle', 'judge', "the judge's score"),
    _rise_check(
      an, config, 'aware_fewer', 'blind-aware', 'loop', 'the share of looping samples', role='audit'
    ),
  ]
  vals = an.get('values') or {}
  effect, seeds = None, None
  if 'blind' in vals and 'mle' in vals:
    a, b = _arr(vals['blind']['loop']), _arr(vals['mle']['loop'])
    c = _cmp(an, 'blind-mle', 'loop')
    effect = {
      'name': 'loop share, blind − mle (paired by seed)',
      'value': c.get('mean_diff'),
      'ci95': c.get('mean_diff_ci95'),
    }
    seeds = stats.seed_sufficiency(a, b, paired=True) if np.isfinite(a - b).sum() >= 2 else None
  return F.finding('mechanism', TITLES['mechanism'], the_claim, checks, effect=effect, seeds=seeds)


def _auroc_check(det, name, key, label, bound, flags: bool, role='claim') -> dict:
  d = (det.get('describe') or {}).get(key) or {}
  nums = {'auroc': d.get('mean'), 'ci': _ci(d), 'bound': bound, 'seeds': d.get('n')}
  if flags:
    outcome = F.above(nums['ci'], bound)
    yes = f'{label} flags loops: AUROC {{auroc}} {{ci}} over {{seeds}} seeds, above {{bound}}'
    no = f'{label} does not flag loops: AUROC {{auroc}} {{ci}} over {{seeds}} seeds, not above {{bound}}'
  else:
    outcome = F.below(nums['ci'], bound)
    yes = f'{label} does not flag loops: AUROC {{auroc}} {{ci}} over {{seeds}} seeds, below {{bound}}'
    no = f'{label} does flag loops: AUROC {{auroc}} {{ci}} over {{seeds}} seeds, not below {{bound}}'
  unsure = f'{label} vs the loop flag is undecided: AUROC {{auroc}} {{ci}} over {{seeds}} seeds straddles '
  unsure += '{bound}, or too few seeds had enough looping and non-looping samples'
  statement = f'{label} {"separates" if flags else "does not separate"} looping from non-looping samples'
  return F.check(name, statement, nums, outcome, yes=yes, no=no, unsure=unsure, role=role)


def _detection(an: dict, config) -> dict:
  det = an.get('detection') or {}
  n_top = max(rep_ns(config))
  top = f'rep{n_top}'
  the_claim = F.claim(
    'cheap per-sequence degeneration metrics flag the looping outputs; the judge and exact-duplicate '
    'deduplication do not',
    source='the issue (expected if the mechanism holds); Welleck et al. 2020 (seq-rep-n)',
  )
  b = config.auroc_bound
  checks = [
    _auroc_check(det, 'metric_flags', top, f'seq-rep-{n_top}', b, True),
    _auroc_check(det, 'judge_misses', 'judge', 'the judge (low score = flagged)', b, False),
    _auroc_check(det, 'dedup_misses', 'dup', 'exact-duplicate dedup', b, False),
    _auroc_check(det, 'compression_flags', 'compression', 'deflate vs shuffles', b, True, role='audit'),
    _auroc_check(det, 'repl_flags', 'repl', f'rep/{config.rep_window}', b, True, role='audit'),
  ]
  a, j = _arr(det.get(top)), _arr(det.get('judge'))
  keep = np.isfinite(a) & np.isfinite(j)
  effect, seeds = None, None
  if keep.sum() >= 2:
    c = stats.compare(a[keep], j[keep], paired=True)
    effect = {
      'name': f'AUROC seq-rep-{n_top} − AUROC judge (paired by seed)',
      'value': c['mean_diff'],
      'ci95': c['mean_diff_ci95'],
    }
    seeds = stats.seed_sufficiency(a[keep], j[keep], paired=True)
  return F.finding('detection', TITLES['detection'], the_claim, checks, effect=effect, seeds=seeds)


def _writeup(an: dict, config) -> dict:
  det = an.get('detection') or {}
  desc = det.get('describe') or {}
  the_claim = F.claim(
    'an LLM judge scored outputs with obvious repetition loops 7.9/10; exact-duplicate deduplication '
    'caught duplicates across responses but not loops inside one',
    {'judge score of looping outputs': CLAIM['judge_loops'], 'out of': CLAIM['judge_scale']},
    source='the write-up',
  )
  jl, dl = desc.get('judge_loops') or {}, desc.get('dup_loops') or {}
  jn = {'score': jl.get('mean'), 'ci': _ci(jl), 'bound': config.judge_bound, 'seeds': jl.get('n')}
  dn = {'share': dl.get('mean'), 'ci': _ci(dl), 'bound': config.dup_bound, 'seeds': dl.get('n')}
  checks = [
    F.check(
      'judge_high',
      "the judge's mean score of looping samples lies above that of a typical real joke (judge_bound)",
      jn,
      F.above(jn['ci'], config.judge_bound),
      yes='the judge scores looping samples {score}/10 {ci} ({seeds} seeds), above a typical real joke ({bound})',
      no='the judge scores looping samples {score}/10 {ci} ({seeds} seeds), not above a typical real joke ({bound})',
      unsure="the judge's score of looping samples, {score}/10 {ci} ({seeds} seeds), is not clear of "
      '{bound}, or too few seeds had looping samples',
      claimed=CLAIM['judge_loops'],
    ),
    F.check(
      'dedup_misses_loops',
      'exact-duplicate deduplication touches almost none of the looping samples (share below dup_bound)',
      dn,
      F.below(dn['ci'], config.dup_bound),
      yes='dedup misses the loops: {share} {ci} of looping samples are exact duplicates ({seeds} seeds), '
      'below {bound}',
      no='dedup would catch the loops: {share} {ci} of looping samples are exact duplicates ({seeds} seeds), '
      'not below {bound}',
      unsure='whether dedup misses the loops is undecided: {share} {ci} of looping samples are exact '
      'duplicates ({seeds} seeds; bound {bound}), or too few seeds had looping samples',
      claimed='missed',
    ),
  ]
  a, b = _arr(det.get('judge_loops')), _arr(det.get('judge_clean'))
  keep = np.isfinite(a) & np.isfinite(b)
  effect, seeds = None, None
  if keep.sum() >= 2:
    c = stats.compare(a[keep], b[keep], paired=True)
    effect = {
      'name': 'judge score, looping − non-looping samples (paired by seed)',
      'value': c['mean_diff'],
      'ci95': c['mean_diff_ci95'],
    }
    seeds = stats.seed_sufficiency(a[keep], b[keep], paired=True)
  return F.finding('writeup', TITLES['writeup'], the_claim, checks, effect=effect, seeds=seeds)


def build_findings(an: dict, config) -> list[dict]:
  return [_mechanism(an, config), _detection(an, config), _writeup(an, config)]
