"""The distillation family's findings: each write-up claim with the checks that test it (exp.analysis.findings).

1. ``collapse`` (the main claim): the *correct* hybrid (shifted SFT, exact KL) collapses at the switch.
   Per arm, three claim checks, each with its own wording: the exact fresh-sample KL jumps at the switch;
   the legal rate collapses at the switch (PHASE_RULE); the final legal rate ends below on-only.
2. ``spike``: the one-step KL spike as the source logged it appears in the source's setup (per arm), at
   every learning rate tried (per arm); audit: what the exact measurement says about the same switch.
3. ``downstream``: the downstream drop appears in the source's own setup (per arm); audit: the same
   comparison for the unshifted hybrid with a fresh sampler and for the correct-SFT hybrid.

Every threshold comes from the config (spike_threshold) or a named constant (common.JUMP_FACTOR, ALPHA,
AT_SWITCH, NULL); the write-up's numbers enter only as ``claim(numbers=...)`` and ``check(claimed=...)``.
"""

from __future__ import annotations

import math

import numpy as np

from exp.analysis import findings as F
from exp.analysis import stats
from exp.families.distillation.common import (
  ALPHA,
  ARMS,
  AT_SWITCH,
  CLAIM,
  CORRECT_SETUP,
  JUMP_FACTOR,
  SOURCE_SETUP,
  setup_label,
)

NULL = 0.0  # "ends below on-only": the paired difference's CI lies wholly below this
ROUNDING = 0.5  # the write-up's ratio is consistent with its numbers when they differ by less than this
UNSHIFTED_FRESH = 'hybrid/unshifted/sampled'  # the source's setup with a fresh sampler
SHIFTED_SAMPLED = 'hybrid/shifted/sampled'  # ... with correct SFT as well
STATEMENT = (
  'Off-policy distillation followed by on-policy distillation (GKD) collapses at the switch: the KL jumps '
  'in one step and the downstream score falls to 0, whatever the teacher/student gap, even for '
  'same-model context distillation; on-policy distillation alone reaches 2.5–6%'
)


def _get(d, *keys):
  for k in keys:
    if not isinstance(d, dict):
      return None
    d = d.get(k)
  return d


def _ci(x) -> list:
  return list(x) if isinstance(x, (list, tuple)) and len(x) == 2 else [None, None]


def _lr(x: float) -> str:
  return f'{x:g}'


# ---------------------------------------------------------------------------------------------------
# Checks


def kl_jump(name: str, who: str, s: dict | None, role: str = 'claim') -> dict:
  """The exact fresh-sample KL jumps at the switch: the 95% CI of its ratio lies above JUMP_FACTOR."""
  geo = _get(s, 'spikes', 'fresh', 'geo') or {}
  nums = {
    'before': _get(s, 'spikes', 'fresh', 'pre', 'mean'),
    'after': _get(s, 'spikes', 'fresh', 'post', 'mean'),
    'ratio': geo.get('geo_mean'),
    'ci': _ci(geo.get('ci95')),
    'bound': JUMP_FACTOR,
  }
  tail = '{before} → {after} nats/token, ratio ×{ratio} {ci}'
  return F.check(
    name,
    f'{who}: the exact KL on fresh student samples jumps at the switch',
    nums,
    F.above(nums['ci'], JUMP_FACTOR),
    yes=f'{who}: the exact fresh-sample KL jumps at the switch, {tail}, above ×{{bound}}',
    no=f'{who}: the exact fresh-sample KL does not jump at the switch, {tail}, at or below ×{{bound}}',
    unsure=f'{who}: whether the exact fresh-sample KL jumps at the switch is undecided, {tail} straddles ×{{bound}}',
    role=role,
    claimed=CLAIM['ratio_reported'] if role == 'claim' else None,
  )


PHASE_WORDS = {
  'before_switch': 'before the switch',
  'at_switch': 'at the switch',
  'later': 'after the switch',
}


def phase(name: str, who: str, s: dict | None, target: str, switch: int, role: str = 'claim') -> dict:
  """The collapse phase by analysis.PHASE_RULE is ``target``: True / False, None when the rule is
  undecided (exactly half the runs collapse, or a tie for the most change points)."""
  ch = _get(s, 'change') or {}
  nums = {
    'n_with': ch.get('n_with'),
    'n': ch.get('n'),
    'before': ch.get('before_switch'),
    'at': ch.get('at_switch'),
    'later': ch.get('later'),
    'switch': switch,
    'end': switch + AT_SWITCH - 1,
  }
  ph = ch.get('phase')
  outcome = None if ph is None or 'phase' not in ch else ph == target
  where = PHASE_WORDS[target]
  counts = (
    '{n_with}/{n} runs have a change point: {before} before step {switch}, {at} in steps {switch}–{end}, '
    '{later} later'
  )
  return F.check(
    name,
    f'{who}: the legal rate collapses {where} (most runs collapse, most collapses {where})',
    nums,
    outcome,
    yes=f'{who}: the legal rate collapses {where}; {counts}',
    no=f'{who}: the legal rate does not collapse {where}; {counts}',
    unsure=f'{who}: whether the legal rate collapses {where} is undecided (a tie under the rule); {counts}',
    role=role,
  )


def below_on_only(name: str, who: str, arm: dict | None, key: str, role: str = 'claim') -> dict:
  """A hybrid ends below its on-only reference: the paired 95% CI of Δ final legal rate lies below NULL."""
  c = next((c for c in (_get(arm, 'comparisons') or []) if c['a'] == key), None)
  st = _get(arm, 'setups') or {}
  nums = {
    'hybrid': _get(st, key, 'legal', 'mean'),
    'on_only': _get(st, c['b'], 'legal', 'mean') if c else None,
    'diff': _get(c, 'cmp', 'mean_diff'),
    'ci': _ci(_get(c, 'cmp', 'mean_diff_ci95')),
    'null': NULL,
  }
  tail = 'final legal rate {hybrid} vs on-only {on_only}, Δ {diff} {ci}'
  return F.check(
    name,
    f'{who}: the final legal rate ends below on-only (paired by seed)',
    nums,
    F.below(nums['ci'], NULL),
    yes=f'{who} ends below on-only: {tail}, wholly below {{null}}',
    no=f'{who} does not end below on-only: {tail}, at or above {{null}}',
    unsure=f'{who}: whether it ends below on-only is undecided: {tail} straddles {{null}}',
    role=role,
    claimed=[CLAIM['downstream_hybrid'] - x for x in reversed(CLAIM['downstream_on_only'])]
    if role == 'claim'
    else None,
  )


def logged_spike(name: str, who: str, s: dict | None, threshold: float, role: str = 'claim') -> dict:
  """The ratio across the switch as the source logged it reads as a spike: its CI lies above threshold."""
  geo = _get(s, 'spikes', 'source', 'geo') or {}
  nums = {
    'before': _get(s, 'spikes', 'source', 'pre', 'mean'),
    'after': _get(s, 'spikes', 'source', 'post', 'mean'),
    'ratio': geo.get('geo_mean'),
    'ci': _ci(geo.get('ci95')),
    'threshold': threshold,
  }
  tail = 'as logged {before} → {after}, ratio ×{ratio} {ci}'
  return F.check(
    name,
    f'{who}: the KL as the source logged it spikes at the switch',
    nums,
    F.above(nums['ci'], threshold),
    yes=f'{who}: the source-style log shows a spike, {tail}, above ×{{threshold}}',
    no=f'{who}: the source-style log shows no spike, {tail}, at or below ×{{threshold}}',
    unsure=f'{who}: whether the source-style log shows a spike is undecided, {tail} straddles ×{{threshold}}',
    role=role,
    claimed=CLAIM['ratio_reported'] if role == 'claim' else None,
  )


def lr_sensitivity(name: str, who: str, rows: list, threshold: float) -> dict:
  """The source's logged spike exceeds the threshold at every learning rate tried (needs >= 2)."""
  outs = [F.above(_ci(r['logged']['geo']['ci95']), threshold) for r in rows]
  nums = {
    'lrs': ', '.join(_lr(r['lr']) for r in rows) or '–',
    'ratios': ', '.join(_geo_text(r['logged']['geo']) for r in rows) or '–',
    'above_at': ', '.join(f'lr {_lr(r["lr"])}' for r, o in zip(rows, outs) if o) or 'no learning rate',
    'n_lrs': len(rows),
    'threshold': threshold,
  }
  outcome = F.all_of(*outs) if len(rows) >= 2 else None
  listing = 'lr {lrs}: logged ratio {ratios}'
  return F.check(
    name,
    f"{who}: the source's logged spike exceeds the threshold at every learning rate tried",
    nums,
    outcome,
    yes=f"{who}: the source's logged spike exceeds ×{{threshold}} at all {{n_lrs}} learning rates tried ({listing}); above it at: {{above_at}}",
    no=f"{who}: the source's logged spike does not exceed ×{{threshold}} at every learning rate tried ({{n_lrs}}; {listing}); above it at: {{above_at}}",
    unsure=f"{who}: whether the source's logged spike exceeds ×{{threshold}} at every learning rate is undecided (learning rates tried: {{n_lrs}}, at least 2 needed, every CI clear of the threshold; {listing}; above it at: {{above_at}})",
  )


def _geo_text(g: dict) -> str:
  lo, hi = _ci(g.get('ci95'))
  return f'×{F.render_number(g.get("geo_mean"))} {F.render_number([lo, hi])}'


def logged_vs_exact(name: str, who: str, s: dict | None) -> dict:
  """The source-style log and the exact KL disagree about the switch: paired t on log10 ratios, Holm."""
  vs = _get(s, 'spikes', 'source', 'vs_fresh')
  nums = {
    'diff': _get(vs, 'mean_diff'),
    'ci': _ci(_get(vs, 'mean_diff_ci95')),
    'p': _get(s, 'spikes', 'source', 'vs_fresh_holm_p'),
    'alpha': ALPHA,
  }
  tail = 'Δ log10 ratio (logged − exact) {diff} {ci}, Holm p {p}'
  return F.check(
    name,
    f'{who}: the ratio as the source logged it differs from the exact KL ratio',
    nums,
    F.significant(nums['p'], ALPHA),
    yes=f'{who}: the logged ratio differs from the exact one, {tail} < {{alpha}}',
    no=f'{who}: no difference between the logged and the exact ratio is detected, {tail} ≥ {{alpha}}',
    unsure=f'{who}: logged vs exact ratio is not testable, {tail}, α {{alpha}}',
    kinds={'p': 'p'},
    role='audit',
  )


def arithmetic() -> dict:
  """The write-up's reported ratio against its own before / after numbers."""
  nums = {
    'kl_before': f'{CLAIM["kl_before"]:g}',  # as published, every digit
    'kl_after': f'{CLAIM["kl_after"]:g}',
    'computed': CLAIM['kl_after'] / CLAIM['kl_before'],
    'reported': CLAIM['ratio_reported'],
    'tol': ROUNDING,
  }
  text = '{kl_after}/{kl_before} = ×{computed}, reported ×{reported}'
  return F.check(
    'writeup_arithmetic',
    "the write-up's reported ratio matches its own numbers (to rounding)",
    nums,
    F.compare(abs(nums['computed'] - nums['reported']), '<', ROUNDING),
    yes=f"the write-up's ratio matches its numbers: {text} (within {{tol}})",
    no=f"the write-up's ratio does not match its numbers: {text} (off by more than {{tol}})",
    unsure=f"the write-up's ratio cannot be checked: {text}, tolerance {{tol}}",
    role='audit',
    claimed=CLAIM['ratio_reported'],
  )


# ---------------------------------------------------------------------------------------------------
# Findings


def _paired(a, b) -> dict | None:
  """seed_sufficiency of per-seed a − b, paired; None with fewer than 2 finite pairs."""
  a, b = np.asarray(a, float), np.asarray(b, float)
  if a.shape != b.shape or int(np.sum(np.isfinite(a) & np.isfinite(b))) < 2:
    return None
  return stats.seed_sufficiency(a, b, paired=True)


def _legal_effect(arm: str, a: dict | None, key: str) -> tuple[dict | None, dict | None]:
  """(effect, seeds) of Δ final legal rate ``key`` − its on-only reference, paired by seed."""
  c = next((c for c in (_get(a, 'comparisons') or []) if c['a'] == key), None)
  if c is None:
    return None, None
  effect = {
    'name': f'Δ final legal rate, {setup_label(key)} − {setup_label(c["b"])} (arm {arm}, paired by seed)',
    'value': c['cmp']['mean_diff'],
    'ci95': c['cmp']['mean_diff_ci95'],
  }
  return effect, (_paired(c['a_values'], c['b_values']) if c.get('paired') else None)


CLAIM_NAMES = {
  'kl_before': 'KL before',
  'kl_after': 'KL after',
  'ratio_reported': 'ratio reported',
  'downstream_hybrid': 'downstream hybrid',
  'downstream_on_only': 'downstream on-only',
}


def _claim(statement: str, keys=tuple(CLAIM_NAMES)) -> dict:
  """The write-up's statement with its published numbers ``keys`` (comparison targets only)."""
  return F.claim(statement, {CLAIM_NAMES[k]: CLAIM[k] for k in keys}, source='the write-up')


def collapse_finding(an: dict, arms: list, sw: int) -> dict:
  checks = []
  for arm in arms:
    a = an['arms'][arm]
    s = a['setups'].get(CORRECT_SETUP)
    who = f'arm {arm}, correct hybrid'
    checks += [
      kl_jump(f'{arm}_kl_jump', who, s),
      phase(f'{arm}_collapse_at_switch', who, s, 'at_switch', sw),
      below_on_only(f'{arm}_below_on_only', who, a, CORRECT_SETUP),
    ]
  effect, seeds = _legal_effect(arms[0], an['arms'][arms[0]], CORRECT_SETUP) if arms else (None, None)
  title = 'The correct hybrid collapses at the off-policy → on-policy switch'
  return F.finding('collapse', title, _claim(STATEMENT), checks, effect=effect, seeds=seeds)


def spike_finding(an: dict, arms: list, sw: int, threshold: float) -> dict:
  checks, audit = [], [arithmetic()]
  for arm in arms:
    a = an['arms'][arm]
    s = a['setups'].get(SOURCE_SETUP)
    who = f"arm {arm}, the source's setup"
    checks += [
      logged_spike(f'{arm}_logged_spike', who, s, threshold),
      lr_sensitivity(f'{arm}_lr_sensitivity', who, a.get('lr_sensitivity') or [], threshold),
    ]
    audit += [
      kl_jump(f'{arm}_source_exact_jump', who, s, role='audit'),
      phase(f'{arm}_source_collapsed_before', who, s, 'before_switch', sw, role='audit'),
      logged_vs_exact(f'{arm}_logged_vs_exact', who, s),
      logged_spike(
        f'{arm}_correct_logged_spike',
        f'arm {arm}, correct hybrid',
        a['setups'].get(CORRECT_SETUP),
        threshold,
        'audit',
      ),
    ]
  effect = seeds = None
  s = an['arms'][arms[0]]['setups'].get(SOURCE_SETUP) if arms else None
  if s is not None:
    vs = s['spikes']['source'].get('vs_fresh')
    if vs is not None:
      effect = {
        'name': f"Δ log10 ratio across the switch, source's log − exact KL (arm {arms[0]}, the source's setup)",
        'value': vs['mean_diff'],
        'ci95': vs['mean_diff_ci95'],
      }
    seeds = _paired(_log10(s['spikes']['source']['ratios']), _log10(s['spikes']['fresh']['ratios']))
  claim = _claim(
    "The KL jumps in one step at the switch, as the source's training log shows it",
    ('kl_before', 'kl_after', 'ratio_reported'),
  )
  title = "The one-step KL spike in the source's log"
  return F.finding('spike', title, claim, checks + audit, effect=effect, seeds=seeds)


def _log10(xs) -> np.ndarray:
  x = np.array([v if v is not None else math.nan for v in xs], float)
  with np.errstate(divide='ignore', invalid='ignore'):
    return np.where(x > 0, np.log10(np.where(x > 0, x, 1.0)), math.nan)


def downstream_finding(an: dict, arms: list) -> dict:
  checks, audit = [], []
  for arm in arms:
    a = an['arms'][arm]
    checks.append(below_on_only(f'{arm}_source_below', f"arm {arm}, the source's setup", a, SOURCE_SETUP))
    for name, key in (('unshifted_fresh', UNSHIFTED_FRESH), ('shifted_sampled', SHIFTED_SAMPLED)):
      audit.append(below_on_only(f'{arm}_{name}_below', f'arm {arm}, {setup_label(key)}', a, key, 'audit'))
  effect, seeds = _legal_effect(arms[0], an['arms'][arms[0]], SOURCE_SETUP) if arms else (None, None)
  claim = _claim(
    'The hybrid ends at 0% downstream while on-policy distillation alone reaches 2.5–6%',
    ('downstream_hybrid', 'downstream_on_only'),
  )
  title = "The downstream drop in the source's own setup"
  return F.finding('downstream', title, claim, checks + audit, effect=effect, seeds=seeds)


def build_findings(an: dict, config) -> list[dict]:
  """The main claim first, then the logged spike and the downstream drop of the source's setup."""
  arms = [a for a in ARMS if a in an['arms']]
  sw = config.switch_step
  return [
    collapse_finding(an, arms, sw),
    spike_finding(an, arms, sw, float(config.spike_threshold)),
    downstream_finding(an, arms),
  ]
