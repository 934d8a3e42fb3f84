"""The "binary, not gradual" finding of the LoRA collapse family (see ``findings.py``): per arm and rank, the
fraction of runs near the threshold with an intermediate accuracy against config.max_intermediate and the
10–90% width of P(collapse) against config.max_width_decades; audit checks on the approach to the threshold
and on degenerate runs just past the collapse detector. See docs/families/lora_collapse.md.
"""

from __future__ import annotations

from exp.analysis import findings as F
from exp.analysis import stats
from exp.families.lora_collapse.audit import CLAIM_RUNS

ENTROPY_MARGIN = 0.05  # "at or just above the detector cut": normalized entropy within this of it
ZERO = 0.0


def _intermediate_check(lab: str, g: dict, config) -> dict:
  b = g.get('binary') or {}
  nums = {
    'inter': b.get('intermediate_n'),
    'near': b.get('near_n'),
    'fraction': b.get('fraction'),
    'band': float(config.band_decades),
    'max': float(config.max_intermediate),
  }
  body = (
    '{inter}/{near} = {fraction} of the runs within ±{band} decade of the threshold have an '
    'intermediate accuracy'
  )
  return F.check(
    f'intermediate_{lab}'.replace(' ', '_'),
    f'{lab}: (almost) no run near the threshold has an intermediate accuracy',
    nums,
    F.compare(nums['fraction'], '<=', nums['max']),
    yes=f'{lab}: nothing in between: {body} (≤ {{max}})',
    no=f'{lab}: not binary: {body} (> {{max}})',
    unsure=f'{lab}: intermediate runs undecided (no threshold inside the grid or no run near it): {body} '
    '(bound {max})',
  )


def _narrow_check(lab: str, g: dict, config) -> dict:
  f = g['fit'] or {}
  nums = {
    'width': f.get('width_10_90'),
    'ci': f.get('width_ci95'),
    'max': float(config.max_width_decades),
  }
  body = 'the 10–90% width of P(collapse) is {width} decades of lr, 95% CI {ci}'
  return F.check(
    f'narrow_{lab}'.replace(' ', '_'),
    f'{lab}: P(collapse) switches from 10% to 90% within the cliff bound (whole CI below it)',
    nums,
    F.below(nums['ci'], nums['max']),
    yes=f'{lab}: a cliff: {body}, below {{max}}',
    no=f'{lab}: not a cliff: {body}, at or above {{max}}',
    unsure=f'{lab}: a cliff is undecided: {body}, against the bound {{max}}',
  )


def _approach_check(lab: str, g: dict) -> dict:
  ap = g.get('approach') or {}
  cmp = ap.get('accuracy') or {}
  peak = g.get('peak') or {}
  nums = {
    'best_lr': ap.get('peak_lr', peak.get('lr')),
    'acc_best': cmp.get('mean_a'),
    'last_lr': ap.get('last_lr'),
    'acc_last': cmp.get('mean_b'),
    'collapsed': ap.get('collapsed_last'),
    'runs': len(ap.get('seeds', [])),
    'diff': cmp.get('mean_diff'),
    'ci': cmp.get('mean_diff_ci95'),
    'zero': ZERO,
  }
  body = (
    'accuracy {acc_best} at the best lr {best_lr} vs {acc_last} at the last lr before the onset '
    '{last_lr} ({collapsed}/{runs} collapsed there): fall {diff}, paired 95% CI {ci}'
  )
  return F.check(
    f'approach_{lab}'.replace(' ', '_'),
    f'{lab}: accuracy already falls on the way to the threshold, before the collapse (paired by seed)',
    nums,
    F.above(nums['ci'], ZERO),
    yes=f'{lab}: the approach is gradual: {body}, above {{zero}}',
    no=f'{lab}: no fall before the onset: {body}, at or below {{zero}}',
    unsure=f'{lab}: a fall before the onset is undecided: {body}, against {{zero}}',
    role='audit',
  )


def _from_approach_check(lab: str, g: dict) -> dict:
  b = g.get('binary') or {}
  before, inter = b.get('intermediate_before_onset'), b.get('intermediate_n')
  after = inter - before if before is not None and inter is not None else None
  nums = {'before': before, 'inter': inter, 'after': after}
  body = (
    '{before} of the {inter} intermediate runs near the threshold lie at or below the last lr before the '
    'onset, {after} above it'
  )
  return F.check(
    f'from_approach_{lab}'.replace(' ', '_'),
    f'{lab}: the intermediate runs come from the gradual approach (most lie before the onset)',
    nums,
    F.compare(before, '>', after),
    yes=f'{lab}: the intermediate runs come from the approach to the threshold: {body}',
    no=f'{lab}: the intermediate runs do not mostly come from the approach: {body}',
    unsure=f'{lab}: where the intermediate runs come from is undecided: {body}',
    role='audit',
  )


def _escape_check(lab: str, sd: dict, cut: float) -> dict:
  nums = {
    'escaped': sd['above_few_outputs_not_collapsed'],
    'above_n': sd['above_n'],
    'entropy_max': sd.get('escaped_entropy_max'),
    'margin': ENTROPY_MARGIN,
    'cut': cut,
  }
  body = (
    '{escaped}/{above_n} runs above the onset give 2–3 distinct outputs without being called collapsed, '
    'normalized entropy up to {entropy_max}'
  )
  bound = cut + ENTROPY_MARGIN
  return F.check(
    f'escape_{lab}'.replace(' ', '_'),
    f'{lab}: the degenerate runs the detector misses above the onset sit just past its entropy cut',
    nums,
    F.compare(nums['entropy_max'], '<=', bound),
    yes=f'{lab}: {body}, within {{margin}} of the detector cut {{cut}}: degenerate runs just past the '
    'detector, which keep P(collapse) below 1 at large lrs and widen the fit',
    no=f'{lab}: {body}, more than {{margin}} above the detector cut {{cut}}: not near-collapses',
    unsure=f'{lab}: {body}; against the detector cut {{cut}} + {{margin}}: undecided',
    role='audit',
  )


def _approach_effect(arm: str, a: dict):
  for r, g in a['by_rank'].items():
    ap = g.get('approach') or {}
    if ap.get('accuracy') and len(ap.get('acc_peak', [])) >= 2:
      cmp = ap['accuracy']
      effect = {
        'name': f'accuracy at the best lr − at the last lr before the onset, {arm} r{r} (paired by seed)',
        'value': cmp.get('mean_diff'),
        'ci95': cmp.get('mean_diff_ci95'),
      }
      return effect, stats.seed_sufficiency(ap['acc_peak'], ap['acc_last'], paired=True)
  return None, None


def binary_finding(an: dict, config, cut: float) -> dict:
  """Finding 2: collapse is binary, not gradual."""
  arm = an['audit'].get('arm')
  the_claim = F.claim(
    'The collapse is binary at the threshold, not gradual: runs either work or collapse, nothing in between',
    {
      'collapsed accuracy (at most)': max(r['accuracy'] for r in CLAIM_RUNS if r['collapsed']),
      'working accuracy': next(r['accuracy'] for r in CLAIM_RUNS if not r['collapsed']),
    },
    source='write-up: no run between its collapsed and its working runs',
  )
  checks = []
  for a_name, a in an['arms'].items():
    for r, g in a['by_rank'].items():
      lab = f'{a_name} r{r}'
      checks += [_intermediate_check(lab, g, config), _narrow_check(lab, g, config)]
  effect = seeds = None
  if arm is not None:
    a = an['arms'][arm]
    for r, g in a['by_rank'].items():
      lab = f'{arm} r{r}'
      if g.get('approach'):  # an lr lies between the best lr and the onset
        checks.append(_approach_check(lab, g))
      checks.append(_from_approach_check(lab, g))
      sd = g.get('sides') or {}
      if sd.get('above_few_outputs_not_collapsed'):
        checks.append(_escape_check(lab, sd, cut))
    effect, seeds = _approach_effect(arm, a)
  return F.finding('binary', 'Binary, not gradual', the_claim, checks, effect=effect, seeds=seeds)
