"""The memorization family's findings (exp/analysis/findings.py): each write-up claim as checks over the
analysis' numbers, main claim first (its checks live in ``checks``), then SL's advantage over RL at every
N with the audit of the published g."""

from __future__ import annotations

import numpy as np

from exp.analysis import stats
from exp.analysis.findings import check, claim, compare, finding, significant, within

from .analysis import CLAIM, LABELS
from .checks import (
  ALPHA,
  GEOMETRIC,
  SD_RATIO,
  _claim_ns,
  _claim_r2_check,
  _covers,
  _dense_checks,
  _flat_check,
  _ns,
  _rl_eoe_checks,
  _rl_step_check,
  _sl_lower,
)

# ---------------------------------------------------------------------------------------------------------
# The second claim: SL needs far fewer episodes than RL at every N (g −8.2 / −15.3, p < 0.001)


def _beats_check(an: dict, other: str) -> dict:
  rows = [c for c in an['comparisons'] if c['family'] == 'sl_vs_rl' and c['b'] == other]
  sig = [c for c in rows if significant(c['holm_p'], ALPHA)]
  lower = [c for c in sig if _sl_lower(an, c) is True]
  higher = [c for c in sig if _sl_lower(an, c) is False]
  ps = [c['holm_p'] for c in rows if c['holm_p'] is not None and np.isfinite(c['holm_p'])]
  nums = {
    'ns': _ns(c['n'] for c in rows),
    'n_lower': len(lower),
    'n_higher': len(higher),
    'n_rows': len(rows),
    'max_holm_p': max(ps) if ps else None,
    'alpha': ALPHA,
  }
  outcome = None if not rows else (False if higher else (True if len(lower) == len(rows) else None))
  label = LABELS[other]
  counts = (
    ' (N = {ns}): significantly lower at {n_lower} and higher at {n_higher} of {n_rows} N, largest Holm p '
    '{max_holm_p} against α {alpha}, Holm over the SL vs RL-EoE and RL-Step family'
  )
  return check(
    f'sl_fewer_than_{other}',
    f'SL needs fewer episodes than {label} at every N',
    nums,
    outcome,
    yes=f'SL needs fewer episodes than {label} at every N' + counts,
    no=f'SL needs more episodes than {label} at some N' + counts,
    unsure=f'SL needing fewer episodes than {label} at every N is undecided' + counts,
    kinds={'max_holm_p': 'p'},
    claimed='p < 0.001',
  )


def _g_check(an: dict) -> dict:
  n, claimed = CLAIM['ns'][0], CLAIM['g_sl_vs_rl_eoe']
  row = next((c for c in an['comparisons'] if c['b'] == 'rl_eoe' and c['n'] == n and 'raw' in c), None)
  g, ci = (row['raw']['hedges_g'], row['raw']['hedges_g_ci95']) if row else (None, None)
  lead = "Hedges' g on raw episodes, SL vs RL-EoE at N = {n} (our N: {ns}), is {g} {ci}"
  return check(
    'g_at_claim_n',
    f"Hedges' g SL vs RL-EoE at N = {n} is the write-up's {claimed}",
    {'n': n, 'ns': _ns(an['ns']), 'g': g, 'ci': ci, 'claimed': claimed},
    _covers(claimed, ci),
    yes=lead + ", which covers the write-up's {claimed}",
    no=lead + ", which excludes the write-up's {claimed}",
    unsure="Hedges' g on raw episodes, SL vs RL-EoE, is compared with the write-up's {claimed} at its N = {n} "
    'only where our N ({ns}) include it and every run there converged (g {g}, CI {ci})',
    claimed=claimed,
  )


def _sd_checks(an: dict) -> list[dict]:
  """Audit of the published g: the RL-EoE SD it implies against ours, and ours against a geometric-like
  search (SD ≈ mean). Means and SDs cover converged runs only; the censored count is shown."""
  a, cells = an['audit'], an['cells'].get('rl_eoe', {})
  n = a['claim_n']
  cell = cells.get(str(n)) or {}
  d = cell.get('describe') or {}
  nums = {
    'g_claim': CLAIM['g_sl_vs_rl_eoe'],
    'n': n,
    'ns': _ns(an['ns']),
    'implied_sd': a['claim_implied_rl_sd'],
  }
  nums |= {'sd': d.get('sd'), 'mean': d.get('mean'), 'converged': cell.get('converged'), 'ratio': SD_RATIO}
  nums['censored'] = cell.get('censored')
  wide = compare(nums['sd'], '>=', SD_RATIO * a['claim_implied_rl_sd'])
  if wide is False and nums['censored']:
    wide = None  # censored runs would only raise the SD
  lead = (
    "The write-up's g {g_claim} at N = {n} implies an RL-EoE SD of about {implied_sd} episodes; ours at "
    'N = {n} (our N: {ns}) is {sd}, mean {mean}, over {converged} converged runs ({censored} censored left '
    'out)'
  )
  implied = check(
    'implied_sd',
    'The published g rests on an implausibly small RL-EoE SD',
    nums,
    wide,
    yes=lead + ': at least {ratio}× the implied SD, so the raw-scale g is inflated; the log scale is the '
    'meaningful one',
    no=lead + ': less than {ratio}× the implied SD, which is plausible here',
    unsure="The write-up's g {g_claim} at N = {n} implies an RL-EoE SD of about {implied_sd} episodes; ours "
    'is compared against {ratio}× that only where our N ({ns}) include N = {n} and censoring cannot hide a '
    'wider SD (SD {sd}, mean {mean}, {converged} converged, {censored} censored)',
    role='audit',
  )
  n0 = str(min(an['ns']))
  c0 = cells.get(n0) or {}
  d0 = c0.get('describe') or {}
  ratio = d0['sd'] / d0['mean'] if d0.get('sd') is not None and d0.get('mean') else None
  geo = within([ratio, ratio], *GEOMETRIC) if ratio is not None and not c0.get('censored') else None
  gnums = {'n': int(n0), 'sd': d0.get('sd'), 'mean': d0.get('mean'), 'ratio': ratio, 'low': GEOMETRIC[0]}
  gnums |= {'high': GEOMETRIC[1], 'converged': c0.get('converged'), 'censored': c0.get('censored')}
  span = (
    'SD {sd} / mean {mean} = {ratio} against [{low}, {high}] ({converged} converged, {censored} censored)'
  )
  geometric = check(
    'geometric_sd',
    'RL-EoE search is geometric-like (SD ≈ mean)',
    gnums,
    geo,
    yes='RL-EoE at N = {n} is geometric-like (SD ≈ mean): ' + span,
    no='RL-EoE at N = {n} is not geometric-like: ' + span,
    unsure='RL-EoE at N = {n} being geometric-like is undecided (needs every run converged): ' + span,
    role='audit',
  )
  return [implied, geometric]


# ---------------------------------------------------------------------------------------------------------
# Headline effects and the findings


def _effect(an: dict, n: int | None, config) -> tuple[dict | None, dict | None]:
  """Hedges' g on log10 episodes, SL − RL-EoE at N = n, and its "is ten enough?" numbers."""
  row = next((c for c in an['comparisons'] if c['b'] == 'rl_eoe' and c['n'] == n and 'log10' in c), None)
  if row is None:
    return None, None
  effect = {
    'name': f"Hedges' g, log10 episodes, SL − RL-EoE at N={n}",
    'value': row['log10']['hedges_g'],
    'ci95': row['log10']['hedges_g_ci95'],
  }
  a = np.log10(an['cells']['sl'][str(n)]['episodes'])
  b = np.log10(an['cells']['rl_eoe'][str(n)]['episodes'])
  return effect, stats.seed_sufficiency(a, b, paired=False, seed=config.seed)


def _full_ns(an: dict) -> list[int]:
  """The N's where every SL and RL-EoE run converged (so a t-test and g exist)."""
  return [c['n'] for c in an['comparisons'] if c['b'] == 'rl_eoe' and 'log10' in c]


def build_findings(an: dict, config) -> list[dict]:
  small = next((k for k in an['cells'] if k.startswith('sl@')), None)
  full = _full_ns(an)
  effect, seeds = _effect(an, max(full) if full else None, config)
  scaling = finding(
    'scaling',
    'SL flat in N, RL-EoE ∝ N^0.89, RL-Step times out',
    claim(
      'SL memorizes one of N answers in a constant number of episodes, RL with a binary end-of-episode '
      'reward needs episodes ∝ N^0.89, and RL with a per-step reward times out',
      {'N': _claim_ns(), 'SL episodes': _ns(CLAIM['sl']), 'RL-EoE episodes': _ns(CLAIM['rl_eoe'])}
      | {'RL-EoE exponent': CLAIM['exponent'], 'R²': CLAIM['r2'], 'RL-Step': _ns(CLAIM['rl_step'])},
    ),
    [_flat_check(an, 'sl' if 'sl' in an['cells'] else None, 'sl_large_flat', 'large')]
    + [_flat_check(an, small, 'sl_small_flat', 'small')]
    + _rl_eoe_checks(an)
    + [_rl_step_check(an), _claim_r2_check(an)]
    + _dense_checks(an),
    effect=effect,
    seeds=seeds,
  )
  n0 = CLAIM['ns'][0] if CLAIM['ns'][0] in full else (min(full) if full else None)
  effect2, seeds2 = _effect(an, n0, config)
  advantage = finding(
    'sl_advantage',
    'SL needs far fewer episodes than RL at every N',
    claim(
      "SL needs far fewer episodes than RL at every N: Hedges' g SL vs RL-EoE and vs RL-Step, p < 0.001",
      {'g vs RL-EoE': CLAIM['g_sl_vs_rl_eoe'], 'g vs RL-Step': CLAIM['g_sl_vs_rl_step']}
      | {'SL advantage': CLAIM['advantage'], 'at N': _claim_ns()},
    ),
    [_beats_check(an, k) for k in ('rl_eoe', 'rl_step')] + [_g_check(an)] + _sd_checks(an),
    effect=effect2,
    seeds=seeds2,
  )
  return [scaling, advantage]
