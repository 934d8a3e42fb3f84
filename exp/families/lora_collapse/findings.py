"""The findings of the LoRA collapse family: every conclusion of the report as a check over named numbers
of the analysis (exp/analysis/findings.py). Two findings, each with its claim checks and audit checks:

1. ``threshold``: collapse turns on above a learning-rate threshold (per arm and rank: the threshold's CI
   lies inside the lr grid, collapse is on above the onset and off below it, accuracy drops across the
   onset; per arm: a collapse is literally one output). Audit: does the rank shift the threshold, does the
   write-up's lr gap explain its runs, does a run far below the threshold barely learn, and does the
   write-up's "working" run (73.5% vs an untuned 73%).
2. ``binary``: the collapse is binary, not gradual (per arm and rank: few runs near c have an intermediate
   accuracy, and the 10–90% width of P(collapse) lies below the cliff bound). Audit: accuracy already falls
   before the onset, whether the intermediate runs sit on that approach, and degenerate runs just past the
   collapse detector.

Thresholds come from the config (band_decades, max_intermediate, max_width_decades) or the named
constants below. See docs/families/lora_collapse.md.
"""

from __future__ import annotations

import math

from exp.analysis import findings as F
from exp.analysis import stats
from exp.families.lora_collapse.audit import CLAIM_RUNS, CLAIM_UNTUNED
from exp.families.lora_collapse.findings_binary import binary_finding
from exp.tasks.lookup import COLLAPSE_ENTROPY_THRESHOLD

MIN_COLLAPSED_ABOVE = 0.9  # "collapse is on above the onset": at least this fraction of the runs above
MAX_COLLAPSED_BELOW = 0.1  # "... and off below it": at most this fraction of the runs below
MIN_LITERAL_SHARE = 0.5  # "a collapse is one constant output": at least this share of the collapsed runs
BARELY_LEARNS_SHARE = 0.1  # "barely learns": gain over the untuned model < this share of the headroom
SOURCE_GAP_FACTOR = 2.0  # the write-up's lr gap "explains" its runs when > this × the toy's rank shift
ALPHA = 0.05
ZERO = 0.0  # the null value of a difference


def lr_ci(ci) -> list | None:
  """A CI of log10 lr as a CI of lr."""
  if not ci or ci[0] is None or ci[1] is None:
    return None
  return [10 ** ci[0], 10 ** ci[1]]


def _threshold_check(lab: str, g: dict, lrs: list) -> dict:
  f = g['fit'] or {}
  c = f.get('center')
  k = sum(x['collapsed'] for x in g['rows'])
  n = sum(x['n'] - x['diverged'] for x in g['rows'])
  nums = {
    'threshold': 10**c if c is not None and math.isfinite(c) else None,
    'ci': lr_ci(f.get('center_ci95')),
    'grid_lo': lrs[0],
    'grid_hi': lrs[-1],
    'collapsed': k,
    'runs': n,
  }
  outcome = False if k in (0, n) else F.within(nums['ci'], lrs[0], lrs[-1])
  return F.check(
    f'threshold_{lab}'.replace(' ', '_'),
    f'{lab}: a collapse threshold lies inside the lr grid (95% CI, bootstrap over seeds)',
    nums,
    outcome,
    yes=f'{lab}: threshold {{threshold}} {{ci}} lies inside the lr grid [{{grid_lo}}, {{grid_hi}}] '
    '({collapsed}/{runs} runs collapsed)',
    no=f'{lab}: no threshold inside the lr grid [{{grid_lo}}, {{grid_hi}}]: {{collapsed}}/{{runs}} runs '
    'collapsed, threshold {threshold} {ci}',
    unsure=f'{lab}: a threshold inside the lr grid [{{grid_lo}}, {{grid_hi}}] is undecided: threshold '
    '{threshold} {ci} reaches past the grid or has no CI ({collapsed}/{runs} runs collapsed)',
  )


def _rate(k, n):
  return k / n if k is not None and n else None


def _sides_check(lab: str, g: dict) -> dict:
  sd = g.get('sides') or {}
  nums = {
    'onset': g['onset'],
    'above_k': sd.get('above_collapsed'),
    'above_n': sd.get('above_n'),
    'above_rate': _rate(sd.get('above_collapsed'), sd.get('above_n')),
    'min_above': MIN_COLLAPSED_ABOVE,
    'below_k': sd.get('below_collapsed'),
    'below_n': sd.get('below_n'),
    'below_rate': _rate(sd.get('below_collapsed'), sd.get('below_n')),
    'max_below': MAX_COLLAPSED_BELOW,
  }
  outcome = (
    False
    if not g['onset']
    else F.all_of(
      F.compare(nums['above_rate'], '>=', MIN_COLLAPSED_ABOVE),
      F.compare(nums['below_rate'], '<=', MAX_COLLAPSED_BELOW),
    )
  )
  counts = (
    '{above_k}/{above_n} = {above_rate} collapsed above the onset {onset} (≥ {min_above} needed), '
    '{below_k}/{below_n} = {below_rate} below it (≤ {max_below} needed)'
  )
  return F.check(
    f'sides_{lab}'.replace(' ', '_'),
    f'{lab}: collapse is on above the onset (the 50% crossing) and off below it',
    nums,
    outcome,
    yes=f'{lab}: collapse is on above the onset and off below it: {counts}',
    no=f'{lab}: collapse is not on above an onset and off below it: {counts}',
    unsure=f'{lab}: collapse on above the onset and off below it is undecided: {counts}',
  )


def _drop_check(lab: str, g: dict) -> dict:
  e = g.get('edge') or {}
  cmp = e.get('accuracy') or {}
  nums = {
    'below_lr': e.get('below_lr'),
    'acc_below': cmp.get('mean_a'),
    'above_lr': e.get('above_lr'),
    'acc_above': cmp.get('mean_b'),
    'diff': cmp.get('mean_diff'),
    'ci': cmp.get('mean_diff_ci95'),
    'zero': ZERO,
  }
  acc = (
    'accuracy {acc_below} at lr {below_lr} (just below the onset) vs {acc_above} at {above_lr} (just '
    'above): drop {diff}, paired 95% CI {ci}'
  )
  return F.check(
    f'drop_{lab}'.replace(' ', '_'),
    f'{lab}: accuracy drops across the onset (paired by seed)',
    nums,
    F.above(nums['ci'], ZERO),
    yes=f'{lab}: accuracy drops across the onset: {acc} lies above {{zero}}',
    no=f'{lab}: accuracy does not drop across the onset: {acc} lies at or below {{zero}}',
    unsure=f'{lab}: an accuracy drop across the onset is undecided: {acc}, against {{zero}}',
  )


def _literal_check(arm: str, d: dict) -> dict:
  k, n = d['one_output_runs'], d['collapsed_runs']
  nums = {'one_output': k, 'collapsed': n, 'share': _rate(k, n), 'min_share': MIN_LITERAL_SHARE}
  share = '{one_output}/{collapsed} = {share} of the collapsed runs give one output on every held-out prompt'
  return F.check(
    f'literal_{arm}',
    f'{arm}: a collapse is one constant output (the write-up: every question → "10000000")',
    nums,
    F.compare(nums['share'], '>=', MIN_LITERAL_SHARE),
    yes=f'{arm}: collapse is literally one output: {share} (≥ {{min_share}})',
    no=f'{arm}: collapse is mostly not one literal output: {share} (< {{min_share}})',
    unsure=f'{arm}: a literal one-output collapse is undecided: {share} (bound {{min_share}})',
  )


def _excludes_zero(ci) -> bool | None:
  if not ci or ci[0] is None or ci[1] is None:
    return None
  return not (ci[0] <= ZERO <= ci[1])


def _rank_shift_check(arm: str, re: dict, au: dict) -> dict:
  cmp = re['per_seed'].get('compare') or {}
  nums = {
    'ratio': au.get('rank_ratio'),
    'delta_c': re['delta_c'],
    'ci': re['delta_c_ci95'],
    'zero': ZERO,
    'per_seed': cmp.get('mean_diff'),
    'p': (cmp.get('paired') or {}).get('p'),
    'alpha': ALPHA,
  }
  lab = f'{arm} r{re["ranks"][0]} → r{re["ranks"][1]} ({{ratio}}× rank)'
  nb = (
    'Δc = {delta_c} decades {ci} (bootstrap over seeds; {zero} excluded counts), per-seed thresholds '
    '{per_seed} decades, paired p {p} (< {alpha} counts)'
  )
  outcome = F.any_of(_excludes_zero(re['delta_c_ci95']), F.significant(nums['p'], ALPHA))
  return F.check(
    'rank_shift',
    'the rank, at a fixed lr, shifts the threshold',
    nums,
    outcome,
    yes=f'{lab}: the rank shifts the threshold: {nb}',
    no=f'{lab}: no detectable rank shift of the threshold: {nb}',
    unsure=f'{lab}: a rank shift of the threshold is undecided: {nb}',
    kinds={'p': 'p'},
    role='audit',
  )


def _source_gap_check(re: dict, au: dict) -> dict:
  src = au['source']
  ci = [v for v in (re['delta_c_ci95'] or []) if v is not None]
  vals = [abs(v) for v in ci] or ([abs(re['delta_c'])] if re['delta_c'] is not None else [])
  shift = max(vals) if vals else None
  nums = {
    'gap': src['lr_gap_decades'],
    'src_ratio': src['rank_ratio'],
    'factor': SOURCE_GAP_FACTOR,
    'shift': shift,
    'ratio': au.get('rank_ratio'),
  }
  body = (
    "the write-up's collapsed and working runs are {gap} decades apart in lr (and {src_ratio}× in rank); "
    "the toy's largest rank shift for a {ratio}× rank change is {shift} decades (far end of Δc's CI)"
  )
  return F.check(
    'source_gap',
    "the write-up's lr gap, not its rank change, explains its collapsed vs working runs",
    nums,
    F.compare(nums['gap'], '>', SOURCE_GAP_FACTOR * shift if shift is not None else None),
    yes=body + ': the gap is more than {factor}× that, so the lr change alone explains its runs',
    no=body + ': the gap is not more than {factor}× that, so its runs cannot separate lr from rank',
    unsure=body + ': whether the gap exceeds {factor}× that is undecided',
    role='audit',
  )


def _barely_check(lab: str, gn: dict) -> dict:
  nums = {
    'lr': gn['smallest_lr'],
    'collapsed': gn['smallest_collapsed'],
    'runs': gn['smallest_n'],
    'gain': gn['gain_smallest'],
    'share': gn['share_smallest'],
    'bound': BARELY_LEARNS_SHARE,
    'best_gain': gn['gain_best'],
    'best_lr': gn['best_lr'],
  }
  body = (
    'at the smallest lr {lr} {collapsed}/{runs} runs collapse and the median gain over the untuned base is '
    '{gain} = {share} of the headroom (bound {bound}); at the best lr {best_lr} the gain is {best_gain}'
  )
  outcome = F.all_of(
    F.compare(gn['smallest_collapsed'], '==', ZERO), F.compare(nums['share'], '<', BARELY_LEARNS_SHARE)
  )
  return F.check(
    f'barely_{lab}'.replace(' ', '_'),
    f'{lab}: far below the threshold a run does not collapse but barely learns',
    nums,
    outcome,
    yes=f'{lab}: far below the threshold a run does not collapse but barely learns: {body}',
    no=f'{lab}: the smallest lr is not a run that merely avoids collapse: {body}',
    unsure=f'{lab}: whether the smallest lr barely learns is undecided: {body}',
    role='audit',
  )


def _source_working_check(au: dict) -> dict:
  src = au['source']
  nums = {
    'working': src['working_accuracy'],
    'untuned': src['untuned'],
    'gain': src['working_gain'],
    'share': src['working_gain_share'],
    'bound': BARELY_LEARNS_SHARE,
  }
  body = (
    'the write-up\'s "working" run scored {working} against {untuned} untuned: a gain of {gain}, {share} of '
    'the headroom'
  )
  return F.check(
    'source_working',
    'the write-up\'s "working" run barely learned (by the same bound as the toy)',
    nums,
    F.compare(nums['share'], '<', BARELY_LEARNS_SHARE),
    yes=body + ' (< {bound}): by the same bound as the toy it barely learned; not collapsing is not working',
    no=body + ' (≥ {bound}): by the same bound as the toy it learned',
    unsure=body + ': undecided against {bound}',
    role='audit',
    claimed=CLAIM_RUNS[2]['accuracy'],
  )


def _edge_effect(arm: str, a: dict):
  """The headline effect: accuracy just below − just above the onset, paired by seed, at the first rank of
  the audited arm that has one."""
  for r, g in a['by_rank'].items():
    e = g.get('edge') or {}
    if e.get('accuracy') and len(e.get('acc_below', [])) >= 2:
      cmp = e['accuracy']
      effect = {
        'name': f'accuracy just below − just above the onset, {arm} r{r} (paired by seed)',
        'value': cmp.get('mean_diff'),
        'ci95': cmp.get('mean_diff_ci95'),
      }
      return effect, stats.seed_sufficiency(e['acc_below'], e['acc_above'], paired=True)
  return None, None


def threshold_finding(an: dict, config) -> dict:
  au = an['audit']
  arm = au.get('arm')
  numbers = {
    f'lr {r["lr"]:g} r{r["rank"]} ({"collapsed" if r["collapsed"] else "working"})': r['accuracy']
    for r in CLAIM_RUNS
  }
  numbers['untuned'] = CLAIM_UNTUNED
  the_claim = F.claim(
    'LoRA fine-tunes collapse to one constant output above a learning-rate threshold and work below it',
    numbers,
    source='write-up: three LoRA runs at lr 2e-4 (r128), 5e-5 (r64), 5e-6 (r32)',
  )
  checks = []
  for a_name, a in an['arms'].items():
    for r, g in a['by_rank'].items():
      lab = f'{a_name} r{r}'
      checks += [_threshold_check(lab, g, an['lrs']), _sides_check(lab, g), _drop_check(lab, g)]
    checks.append(_literal_check(a_name, a['diagnostics']))
  effect = seeds = None
  if arm is not None:
    a = an['arms'][arm]
    re = a['rank_effect']
    if re and re['delta_c'] is not None:
      checks += [_rank_shift_check(arm, re, au), _source_gap_check(re, au)]
    checks += [_barely_check(f'{arm} r{r}', gn) for r, gn in au.get('gains', {}).items()]
    effect, seeds = _edge_effect(arm, a)
  checks.append(_source_working_check(au))
  del config
  return F.finding(
    'threshold', 'Collapse above a learning-rate threshold', the_claim, checks, effect=effect, seeds=seeds
  )


def build_findings(an: dict, config) -> list[dict]:
  """The family's findings, the main claim first."""
  return [threshold_finding(an, config), binary_finding(an, config, COLLAPSE_ENTROPY_THRESHOLD)]
