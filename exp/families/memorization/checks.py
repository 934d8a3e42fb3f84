"""The checks of the memorization family's main claim (SL flat in N, RL-EoE ∝ N^0.89, RL-Step times out)
and its audit, with the thresholds and helpers the family's findings share (``findings`` builds them).
Every threshold is a named constant below and is shown in the check's sentence; the write-up's
published numbers (analysis.CLAIM) are comparison targets only."""

from __future__ import annotations

import numpy as np

from exp.analysis import report
from exp.analysis.findings import above, all_of, below, check, compare, significant, within

from .analysis import CLAIM

FLAT_BOUND = 0.15  # an exponent CI inside ±this is "flat in N"; wholly above it, "grows with N"
ALPHA = 0.05  # significance level of every test a check reads (Holm-adjusted where a family has several)
TIMEOUT_FRAC = 0.5  # "times out": at least this fraction of the (non-diverged) runs hit the budget
SD_RATIO = 3.0  # our SD at least this many times the claim-implied SD makes the published g implausible
GEOMETRIC = (0.5, 2.0)  # SD / mean of a geometric-like search lies in this range
R2_TOL = 0.01  # the published R² and the R² through the published means differ by more than this


def _fit(an: dict, key: str) -> tuple:
  fit = (an['fits'].get(key) or {}).get('per_seed')
  return (fit['exponent'], fit['exponent_ci95']) if fit else (None, None)


def _ns(ns) -> str:
  ns = list(ns)
  return ', '.join(str(n) for n in ns) if ns else '–'


def _censored(an: dict, key: str) -> int:
  return sum(c['censored'] for c in an['cells'].get(key, {}).values())


def _covers(value: float, ci) -> bool | None:
  """True when the CI contains ``value``, False when it excludes it, None when the CI is missing."""
  if not ci or any(v is None or not np.isfinite(v) for v in ci):
    return None
  return within([value, value], float(ci[0]), float(ci[1]))


def _claim_ns() -> str:
  return _ns(CLAIM['ns'])


# ---------------------------------------------------------------------------------------------------------
# The main claim: SL flat in N, RL-EoE ∝ N^0.89, RL-Step times out


def _flat_check(an: dict, key: str | None, name: str, which: str) -> dict:
  """Is the SL series ``key`` flat in N (the whole exponent CI inside ±FLAT_BOUND)?"""
  e, ci = _fit(an, key) if key else (None, None)
  cells = an['cells'].get(key, {}) if key else {}
  nums = {
    'lr': an['sl_lrs'].get(key) if key else None,
    'exponent': e,
    'ci': ci,
    'bound': FLAT_BOUND,
    'medians': _ns(report.fmt(cells[str(n)]['median']) for n in an['ns'] if str(n) in cells),
    'censored': _censored(an, key) if key else None,
  }
  tail = ', KM medians {medians} episodes by N ({censored} censored runs left out of the fit)'
  by_construction = (
    '; flat by construction: one update this large already makes y* the argmax, whatever N'
    if which == 'large'
    else ''
  )
  return check(
    name,
    f'SL with the {which} step needs the same number of episodes at every N',
    nums,
    within(ci, -FLAT_BOUND, FLAT_BOUND),
    yes=f'SL with the {which} step (lr {{lr}}) is flat in N: exponent {{exponent}} {{ci}} lies inside '
    f'±{{bound}}{tail}{by_construction}',
    no=f'SL with the {which} step (lr {{lr}}) is not flat in N: exponent {{exponent}} {{ci}} lies outside '
    f'±{{bound}}{tail}',
    unsure=f'SL with the {which} step (lr {{lr}}) being flat in N is undecided: exponent {{exponent}} '
    f'{{ci}} straddles ±{{bound}} or is missing{tail}',
    claimed=f'{_ns(CLAIM["sl"])} episodes at N = {_claim_ns()}',
  )


def _rl_eoe_checks(an: dict) -> list[dict]:
  e, ci = _fit(an, 'rl_eoe')
  cens = _censored(an, 'rl_eoe') if 'rl_eoe' in an['cells'] else None
  note = ' ({censored} censored runs left out of the fit)'
  grows = check(
    'rl_eoe_grows',
    "RL-EoE's episodes grow with N",
    {'exponent': e, 'ci': ci, 'bound': FLAT_BOUND, 'censored': cens},
    above(ci, FLAT_BOUND),
    yes="RL-EoE's episodes grow with N: exponent {exponent} {ci} lies above {bound}" + note,
    no="RL-EoE's episodes do not grow with N: exponent {exponent} {ci} lies at or below {bound}" + note,
    unsure='RL-EoE growing with N is undecided: exponent {exponent} {ci} straddles {bound} or is missing'
    + note,
  )
  claimed = CLAIM['exponent']
  covers = _covers(claimed, ci)
  if covers is False and cens and ci[1] < claimed:
    covers = None  # censored runs sit above the fit: leaving them out pulls the exponent down
  exponent = check(
    'rl_eoe_exponent',
    f"RL-EoE's scaling exponent is the write-up's {claimed}",
    {'exponent': e, 'ci': ci, 'claimed': claimed, 'censored': cens},
    covers,
    yes="RL-EoE's exponent {exponent} {ci} covers the write-up's {claimed}" + note,
    no="RL-EoE's exponent {exponent} {ci} excludes the write-up's {claimed}" + note,
    unsure="RL-EoE's exponent against the write-up's {claimed} is undecided: {exponent} {ci} is missing, "
    'or lies below it with censored runs that would raise it' + note,
    claimed=claimed,
  )
  return [grows, exponent]


def _pooled_numbers(an: dict, arm: str) -> dict:
  p = an['larger_ns'].get(arm) or {}
  return {
    'ns': _ns(p.get('ns', an['ns'][1:])),
    'converged': p.get('converged'),
    'censored': p.get('censored'),
    'diverged': p.get('diverged'),
    'frac': p.get('censored_frac'),
    'fisher_p': (p.get('fisher') or {}).get('p'),
    'logrank_p': (p.get('logrank') or {}).get('p'),
  }


def _rl_step_check(an: dict) -> dict:
  nums = {**_pooled_numbers(an, 'rl_step'), 'bound': TIMEOUT_FRAC, 'alpha': ALPHA}
  timed_out = compare(nums['frac'], '>=', TIMEOUT_FRAC)
  sig = significant(nums['fisher_p'], ALPHA)
  outcome = False if timed_out is False else (True if timed_out and sig else None)
  counts = (
    '{censored} runs censored at the budget, {converged} converged, {diverged} diverged (counted apart)'
  )
  return check(
    'rl_step_times_out',
    'RL-Step times out at the larger N',
    nums,
    outcome,
    yes='RL-Step times out at the larger N ({ns}): ' + counts + '; censored fraction {frac} ≥ {bound}, '
    'and fewer converge than with SL (α {alpha}: Fisher p {fisher_p}, log-rank p {logrank_p})',
    no='RL-Step does not time out at the larger N ({ns}): ' + counts + '; censored fraction {frac} < '
    '{bound} (Fisher p {fisher_p} against SL, α {alpha}; log-rank p {logrank_p})',
    unsure='RL-Step timing out at the larger N ({ns}) is undecided: ' + counts + '; censored fraction '
    '{frac} against {bound}, Fisher p {fisher_p} against SL (α {alpha}), log-rank p {logrank_p}',
    kinds={'fisher_p': 'p', 'logrank_p': 'p'},
    claimed=f'{_ns(CLAIM["rl_step"])} at N = {_claim_ns()}',
  )


def _claim_r2_check(an: dict) -> dict:
  cf = an['audit']['claim_means_fit']
  nums = {
    'means': _ns(CLAIM['rl_eoe']),
    'exponent': cf['exponent'],
    'r2': cf['r2'],
    'claimed_r2': CLAIM['r2'],
  }
  nums['tol'] = R2_TOL
  diff = abs(cf['r2'] - CLAIM['r2']) if cf['r2'] is not None else None
  lead = "The write-up's RL-EoE means ({means}) give exponent {exponent} with R² {r2}"
  return check(
    'claim_r2',
    'The published R² is not the fit through the published means',
    nums,
    compare(diff, '>', R2_TOL),
    yes=lead + ', not its R² {claimed_r2} (more than {tol} apart): the published R² must come from '
    'per-seed points',
    no=lead + ', within {tol} of its R² {claimed_r2}',
    unsure=lead + '; its R² {claimed_r2} cannot be compared (tolerance {tol})',
    role='audit',
  )


def _dense_checks(an: dict) -> list[dict]:
  """The audit of 'per-step reward times out': a dense per-token reward against SL and RL-EoE."""
  d, dci = _fit(an, 'rl_step_dense')
  r, rci = _fit(an, 'rl_eoe')
  slower = None
  if dci and rci:
    slower = True if below(dci, rci[0]) is True else (False if above(dci, rci[1]) is True else None)
  nums = {'dense': d, 'dense_ci': dci, 'rl': r, 'rl_ci': rci}
  vs_rl = check(
    'dense_vs_rl_eoe',
    'The dense per-token reward scales more slowly than RL-EoE',
    nums,
    slower,
    yes='The dense per-token reward scales more slowly than RL-EoE: its exponent {dense} {dense_ci} lies '
    "below RL-EoE's {rl} {rl_ci}",
    no='The dense per-token reward scales faster than RL-EoE: its exponent {dense} {dense_ci} lies above '
    "RL-EoE's {rl} {rl_ci}",
    unsure='The dense per-token reward cannot be told apart from RL-EoE by scaling: its exponent {dense} '
    "{dense_ci} overlaps RL-EoE's {rl} {rl_ci} (or one is missing)",
    role='audit',
  )
  flat = check(
    'dense_flat',
    'The dense per-token reward is flat in N, like SL',
    {'dense': d, 'dense_ci': dci, 'bound': FLAT_BOUND},
    within(dci, -FLAT_BOUND, FLAT_BOUND),
    yes='The dense per-token reward is flat in N like SL: exponent {dense} {dense_ci} lies inside ±{bound}',
    no='The dense per-token reward is not flat in N: exponent {dense} {dense_ci} lies outside ±{bound}',
    unsure='The dense per-token reward being flat in N is undecided: exponent {dense} {dense_ci} '
    'straddles ±{bound} or is missing',
    role='audit',
  )
  return [vs_rl, flat, _shaping_check(an), _dense_level_check(an)]


def _shaping_check(an: dict) -> dict:
  step, dense = _pooled_numbers(an, 'rl_step'), _pooled_numbers(an, 'rl_step_dense')
  nums = {'ns': step['ns'], 'step_frac': step['frac'], 'dense_frac': dense['frac'], 'bound': TIMEOUT_FRAC}
  outcome = all_of(compare(step['frac'], '>=', TIMEOUT_FRAC), compare(dense['frac'], '<', TIMEOUT_FRAC))
  fracs = 'censored fractions {step_frac} (shaped RL-Step) and {dense_frac} (dense per-token reward)'
  return check(
    'shaping_not_feedback',
    'The per-step failure comes from the reward shaping, not from per-step feedback',
    nums,
    outcome,
    yes='At the larger N ({ns}) the shaped RL-Step times out while the dense per-token reward converges '
    '(' + fracs + ', against {bound}): the failure comes from the reward shaping, not per-step feedback',
    no='At the larger N ({ns}) shaped and dense per-step rewards do not split as a shaping failure would '
    '(' + fracs + ', against {bound})',
    unsure='Whether the per-step failure comes from the shaping is undecided at the larger N ({ns}) ('
    + fracs
    + ', against {bound})',
    role='audit',
  )


def _sl_lower(an: dict, c: dict) -> bool | None:
  """Direction of one comparison: SL lower (log10 mean, else KM median; a missing median is the
  larger)."""
  if 'log10' in c:
    return c['log10']['mean_diff'] < 0
  m_sl = an['cells']['sl'][str(c['n'])]['median']
  m_b = an['cells'][c['b']][str(c['n'])]['median']
  if m_sl is None:
    return None if m_b is None else False
  return True if m_b is None else m_sl < m_b


def _dense_level_check(an: dict) -> dict:
  n = max(an['ns'])
  row = next((c for c in an['comparisons'] if c['b'] == 'rl_step_dense' and c['n'] == n), None)
  cell = an['cells'].get('rl_step_dense', {}).get(str(n), {})
  nums = {
    'n': n,
    'dense': cell.get('median'),
    'sl': an['cells'].get('sl', {}).get(str(n), {}).get('median'),
    'test': row['primary_test'] if row else '–',
    'holm_p': row['holm_p'] if row else None,
    'alpha': ALPHA,
  }
  sig = significant(nums['holm_p'], ALPHA)
  outcome = None if not sig else _sl_lower(an, row)
  lead = "At N = {n} the dense per-token reward takes a KM median of {dense} episodes against SL's {sl}"
  tail = ' ({test}, Holm p {holm_p} within the SL vs RL-Step-dense family, α {alpha})'
  return check(
    'dense_level_vs_sl',
    'The dense per-token reward still needs more episodes than SL at the largest N',
    nums,
    outcome,
    yes=lead + ': more than SL' + tail,
    no=lead + ': fewer than SL' + tail,
    unsure=lead + ': not told apart from SL' + tail,
    kinds={'holm_p': 'p'},
    role='audit',
  )
