"""The Noisy Student findings: every conclusion of the report as a check over named numbers
(``exp.analysis.findings``), grouped by the write-up claim it tests.

1. ``claim_metric``: the write-up's own metric (training loss scored on each student's noised inputs) is
   higher with noise; its effect size agrees with the write-up's g. Audit: the write-up's statistics
   recomputed from its summary, the share of the gap that is measurement, the model part.
2. ``heldout``: what the claim would mean for the student: a higher clean loss and a lower token accuracy
   on unseen prompts, with an effect as large as claimed. Audit: paired-only detection, the over-fitting
   regime, exact match.
3. ``variance``: "2× higher variance", by the F test on our runs; audit: the F test on the write-up's
   own numbers.
The write-up's numbers enter only as claim numbers, ``claimed=`` and the bounds the checks compare with.
"""

from __future__ import annotations

import numpy as np

from exp.analysis import findings as F
from exp.analysis import stats
from exp.families.noisy_student.common import (
  ALPHA,
  CLAIM,
  CLAIM_TOLERANCE,
  EXACT_FLOOR,
  NO_EFFECT,
  REGIMES,
  find,
)
from exp.families.noisy_student.common import metric_key as _key
from exp.families.noisy_student.variance import variance_finding

CLAIMED_DIFF = CLAIM['noisy']['mean'] - CLAIM['clean']['mean']
P = {'p': 'p'}


def _diff(an: dict, metric: str, regime: str) -> dict:
  """Δ noisy − clean of ``metric`` with its paired 95% CI and paired p, and Hedges' g with its CI."""
  c = (find(an['comparisons'], metric, regime) or {}).get('compare') or {}
  return {
    'diff': c.get('mean_diff'),
    'ci': c.get('mean_diff_ci95'),
    'p': (c.get('paired') or {}).get('p'),
    'student_p': (c.get('student') or {}).get('p'),
    'g': c.get('hedges_g'),
    'g_ci': c.get('hedges_g_ci95'),
  }


def _seeds(an: dict, metric: str, regime: str) -> dict | None:
  """ "Is ten enough?" for noisy − clean of ``metric``, paired by seed."""
  ps = an['per_seed']
  a, b = (ps.get(c, {}).get(_key(metric, regime)) for c in ('noisy', 'clean'))
  if a is None or b is None:
    return None
  nan = lambda xs: np.array([np.nan if x is None else x for x in xs], float)
  return stats.seed_sufficiency(nan(a), nan(b), paired=True)


def _effect(name: str, d: dict) -> dict:
  return {'name': name, 'value': d['diff'], 'ci95': d['ci']}


def _direction(name, statement, d, up: bool, subject: str, claimed=None, role='claim') -> dict:
  """Noisy − clean of ``subject`` lies above 0 (``up``) or below 0 by the paired CI; the other side
  reads "reversed"."""
  nums = {'diff': d['diff'], 'ci': d['ci'], 'p': d['p'], 'bound': NO_EFFECT}
  hi, lo = (
    (('higher', 'above'), ('lower', 'at or below')) if up else (('lower', 'below'), ('higher', 'at or above'))
  )
  delta = 'Δ noisy − clean {diff} {ci} lies'
  return F.check(
    name,
    statement,
    nums,
    F.above(d['ci'], NO_EFFECT) if up else F.below(d['ci'], NO_EFFECT),
    yes=f'{subject} is {hi[0]} with noise: {delta} {hi[1]} {{bound}} (paired p {{p}})',
    no=f'reversed: {subject} is {lo[0]} with noise: {delta} {lo[1]} {{bound}} (paired p {{p}})',
    unsure=f'no significant difference in {subject}: {delta.removesuffix(" lies")} straddles {{bound}} '
    '(paired p {p})',
    kinds=P,
    role=role,
    claimed=claimed,
  )


def _g_agrees(name: str, statement: str, d: dict, subject: str) -> dict:
  """Our Hedges' g CI contains the write-up's g (a point claim: outside on either side fails)."""
  lo, hi = d['g_ci'] if d['g_ci'] is not None else (None, None)
  return F.check(
    name,
    statement,
    {'g': d['g'], 'g_ci': d['g_ci'], 'claimed_g': CLAIM['g']},
    F.all_of(F.compare(lo, '<=', CLAIM['g']), F.compare(hi, '>=', CLAIM['g'])),
    yes=f"our Hedges' g of {subject} {{g}} {{g_ci}} contains the write-up's g {{claimed_g}}",
    no=f"our Hedges' g of {subject} {{g}} {{g_ci}} excludes the write-up's g {{claimed_g}}",
    unsure=f"our Hedges' g of {subject} {{g}} {{g_ci}} is undefined (the write-up's g {{claimed_g}})",
    claimed=CLAIM['g'],
  )


def _recomputed(an: dict) -> dict:
  """Audit: the write-up's t, p, g and per-group CIs follow from its own means, SDs and n."""
  cl, tol = an['claim'], CLAIM_TOLERANCE
  rec = cl['recomputed']
  nums = {
    't_rec': rec['student']['t'],
    't_pub': CLAIM['t'],
    't_tol': tol['t'],
    'p_rec': rec['student']['p'],
    'p_pub': CLAIM['p'],
    'p_tol': tol['p'],
    'g_rec': rec['hedges_g'],
    'g_pub': CLAIM['g'],
    'g_tol': tol['g'],
    'ci_dev': max(
      abs(float(x) - float(y)) for g in ('noisy', 'clean') for x, y in zip(cl['ci95'][g], CLAIM[g]['ci95'])
    ),
    'ci_tol': tol['ci'],
  }
  outcome = F.all_of(
    *(F.compare(abs(nums[f'{k}_rec'] - nums[f'{k}_pub']), '<=', tol[k]) for k in ('t', 'p', 'g')),
    F.compare(nums['ci_dev'], '<=', tol['ci']),
  )
  body = (
    't {t_rec} vs {t_pub} (tolerance {t_tol}), p {p_rec} vs {p_pub} ({p_tol}), g {g_rec} vs {g_pub} '
    '({g_tol}), per-group 95% CIs off by at most {ci_dev} ({ci_tol})'
  )
  return F.check(
    'writeup_recomputes',
    "The write-up's statistics follow from its own summary (means, SDs, n = 10 each; Student pooled t)",
    nums,
    outcome,
    yes="recomputed from its summary with '±' read as the SD, the write-up's numbers match: " + body,
    no="recomputed from its summary, the write-up's numbers do not match: " + body,
    unsure='the write-up cannot be recomputed: ' + body,
    role='audit',
  )


def _measurement(an: dict, E: int) -> dict:
  """Audit: how much of the claimed gap is scoring the noisy student on its own noised inputs. A share
  only exists when the gap's CI lies above 0."""
  dec = an['decomposition'].get('early', {})
  gap, meas = dec.get('gap') or {}, dec.get('measurement_part') or {}
  share = dec.get('measurement_share')
  nums = {
    'gap': gap.get('mean'),
    'gap_ci': gap.get('ci95'),
    'meas': meas.get('mean'),
    'meas_ci': meas.get('ci95'),
    'share': None if share is None else 100 * share,
    'bound': NO_EFFECT,
  }
  parts = (
    "the gap (noisy on noised − clean training inputs) {gap} {gap_ci}; the noisy student's own noised − "
    'clean training loss {meas} {meas_ci}; share of the gap {share}%'
  )
  return F.check(
    'measurement_share',
    f"Part of the claimed gap after {E} updates is measurement: the noisy student's loss is higher on its "
    'corrupted inputs than on the same prompts clean (by construction: deletion removes prompt tokens the '
    'response depends on, dropout perturbs the student)',
    nums,
    F.all_of(F.above(nums['gap_ci'], NO_EFFECT), F.above(nums['meas_ci'], NO_EFFECT)),
    yes='part of the gap is measurement, both CIs above {bound}: ' + parts,
    no='no measurement share: the gap or its measurement part lies at or below {bound}: ' + parts,
    unsure='the measurement share is undecided, a CI straddles {bound}: ' + parts,
    role='audit',
  )


def _model_part(an: dict, E: int) -> dict:
  m = an['decomposition'].get('early', {}).get('model_part') or {}
  nums = {'diff': m.get('mean'), 'ci': m.get('ci95'), 'bound': NO_EFFECT}
  what = 'noisy − clean student on clean training inputs {diff} {ci}'
  return F.check(
    'model_part',
    f'After {E} updates the noisy student fits its training prompts, scored clean, less closely',
    nums,
    F.above(nums['ci'], NO_EFFECT),
    yes='it does: ' + what + ' lies above {bound}',
    no='it does not: ' + what + ' lies at or below {bound}',
    unsure='undecided: ' + what + ' straddles {bound}',
    role='audit',
  )


def _claim_metric(an: dict) -> dict:
  E = an['regimes']['early']
  d = _diff(an, 'train_loss_noised', 'early')
  published = {
    'noisy': f'{CLAIM["noisy"]["mean"]:g} ± {CLAIM["noisy"]["sd"]:g}',
    'clean': f'{CLAIM["clean"]["mean"]:g} ± {CLAIM["clean"]["sd"]:g}',
    'seeds per arm': CLAIM['noisy']['n'],
    't': f'{CLAIM["t"]:g}',
    'p': f'{CLAIM["p"]:g}',
    'g': f'{CLAIM["g"]:g}',
  }
  checks = [
    _direction(
      'increase',
      f'Noise raises the training loss scored on noised inputs after {E} updates (paired t: 95% CI of '
      'the mean per-seed difference)',
      d,
      up=True,
      subject=f'the training loss on noised inputs after {E} updates',
      claimed=CLAIMED_DIFF,
    ),
    _g_agrees(
      'effect_size',
      "The effect is as large as the write-up's (Student two-sample Hedges' g)",
      d,
      f'the training loss on noised inputs after {E} updates',
    ),
    _recomputed(an),
    _measurement(an, E),
    _model_part(an, E),
  ]
  return F.finding(
    'claim_metric',
    "Noise raises the training loss on noised inputs (the write-up's metric)",
    F.claim(
      'Token-level noise in distillation (10% token deletion + 10% dropout) raises the loss, measured '
      "as each student's training loss on its own (noised) inputs",
      published,
      source='write-up',
    ),
    checks,
    effect=_effect(f'Δ training loss on noised inputs, noisy − clean (paired), {E} steps', d),
    seeds=_seeds(an, 'train_loss_noised', 'early'),
  )


def _paired_only(d: dict, E: int) -> dict:
  nums = {'p': d['p'], 'student_p': d['student_p'], 'alpha': ALPHA}
  return F.check(
    'paired_only',
    f'After {E} updates the held-out loss difference is detected by the paired test only (seeds share '
    'data, labels, initial student and minibatch order; the write-up used two-sample tests)',
    nums,
    F.all_of(F.significant(d['p'], ALPHA), F.negate(F.significant(d['student_p'], ALPHA))),
    yes='paired only: paired p {p} < {alpha} but Student p {student_p}: detectable, yet small against '
    'the seed-to-seed spread',
    no='not paired-only: paired p {p}, Student p {student_p} (α {alpha})',
    unsure='untestable: paired p {p}, Student p {student_p} (α {alpha})',
    kinds={'p': 'p', 'student_p': 'p', 'alpha': 'p'},
    role='audit',
  )


def _exact(an: dict, config) -> dict:
  """Audit: held-out exact match is near zero everywhere (None-safe: missing cells are skipped)."""
  vals = [
    (an['cells'][c][reg].get('heldout_exact') or {}).get('mean') for c in an['conditions'] for reg in REGIMES
  ]
  vals = [v for v in vals if v is not None and np.isfinite(v)]
  nums = {
    'max_pct': 100 * max(vals) if vals else None,
    'floor_pct': 100 * EXACT_FLOOR,
    'n_train': int(config.n_train),
    'response_len': int(config.response_len),
  }
  return F.check(
    'exact_match_floor',
    'Held-out exact match is too rare to compare conditions',
    nums,
    F.compare(nums['max_pct'], '<', nums['floor_pct']),
    yes='held-out exact match is at most {max_pct}% in every condition and regime (below {floor_pct}%): '
    'from {n_train} prompts no student recovers the whole {response_len}-token program, so token '
    'accuracy is the informative accuracy metric',
    no='held-out exact match reaches {max_pct}% (at least {floor_pct}%) in some condition: with {n_train} '
    'prompts and {response_len}-token responses it is informative beside token accuracy',
    unsure='held-out exact match is missing (maximum {max_pct}%, floor {floor_pct}%; {n_train} prompts, '
    '{response_len}-token responses)',
    role='audit',
  )


def _heldout(an: dict, config) -> dict:
  E, Fs = an['regimes']['early'], an['regimes']['final']
  loss, acc = _diff(an, 'heldout_loss', 'early'), _diff(an, 'heldout_token_acc', 'early')
  loss_f, acc_f = _diff(an, 'heldout_loss', 'final'), _diff(an, 'heldout_token_acc', 'final')
  checks = [
    _direction(
      'heldout_loss_higher',
      f"Noise raises the student's clean loss on unseen prompts after {E} updates (paired t)",
      loss,
      up=True,
      subject=f'the clean held-out loss after {E} updates',
    ),
    _g_agrees(
      'heldout_effect_size',
      f"The held-out loss effect after {E} updates is as large as the write-up's g",
      loss,
      f'the clean held-out loss after {E} updates',
    ),
    _direction(
      'token_accuracy_lower',
      f"Noise lowers the student's token accuracy on unseen prompts after {E} updates (paired t)",
      acc,
      up=False,
      subject=f'held-out token accuracy after {E} updates',
    ),
    _paired_only(loss, E),
    _direction(
      'regulariser',
      f'After {Fs} updates (over-fitting) noise lowers the clean held-out loss (regularisation)',
      loss_f,
      up=False,
      subject=f'the clean held-out loss after {Fs} updates',
      role='audit',
    ),
    _direction(
      'accuracy_over_fitting',
      f'After {Fs} updates noise raises held-out token accuracy (a lower loss that is accuracy, not only '
      'calibration)',
      acc_f,
      up=True,
      subject=f'held-out token accuracy after {Fs} updates',
      role='audit',
    ),
    _exact(an, config),
  ]
  return F.finding(
    'heldout',
    'Noise makes the distilled student worse on unseen prompts (clean held-out loss, token accuracy)',
    F.claim(
      "The write-up's higher loss, read as a statement about the student rather than about a loss on "
      'corrupted inputs: with noise the student does worse on clean, unseen prompts',
      {'g': f'{CLAIM["g"]:g}'},
      source="the write-up's conclusion; the toy's held-out prompts",
    ),
    checks,
    effect=_effect(f'Δ clean held-out loss, noisy − clean (paired), {E} steps', loss),
    seeds=_seeds(an, 'heldout_loss', 'early'),
  )


def build_findings(an: dict, config) -> list[dict]:
  """The family's findings, the write-up's main claim first (see the module docstring)."""
  return [_claim_metric(an), _heldout(an, config), variance_finding(an)]
