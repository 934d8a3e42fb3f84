"""Findings of the capacity cliff: the write-up's claims as checks over the analysis' numbers.

``build_findings(analysis, config)`` returns two findings (exp/analysis/findings.py): the cliff claim (a sharp
step in exact success, 4PL and model-free; audit: per-depth thresholds, masked units, permissive vs exact)
and the metric-mirage audit (per-token accuracy rises over the same span; audit: centre shift, acc^L).
``budget_check(analysis, log)`` is the training-budget audit check; it needs metrics.jsonl, so the report
adds it. Every threshold is a named constant here or a config value. See docs/families/capacity_cliff.md.
"""

from __future__ import annotations

import numpy as np

from exp.analysis import findings as F
from exp.analysis import stats
from exp.families.capacity_cliff.analysis import CLAIM, fit_failed

AIC_MARGIN = 2.0  # the logistic must beat a straight line in log10 params by more than this ΔAIC
MIN_RISE = 0.3  # a step: the 4PL asymptotes of exact success at least this far apart
MIRAGE_DECADES = 0.5  # "the same span": 10–90% widths of the two metrics differ by less than this
ACC_L_TOLERANCE = 0.10  # "a power of the smooth metric": |acc^L − exact| at most this at every width
CENTRE_SHIFT_MIN = 0.0  # exact success switches later than per-token accuracy: shift CI above this
MASKED_REQUIRED = 0.0  # the masked units' parameters must stay exactly here
PERMISSIVE_ALLOWED = 0  # runs where permissive success may exceed exact for "the metrics coincide"
LOSS_FLOOR = 0.05  # nats per token: below it the training loss no longer limits accuracy
LOSS_DROP_BOUND = 0.10  # relative loss drop over the last fifth of training that counts as "still falling"

TITLE = 'Capacity cliff on structured output (Dyck-2 completion)'


def _round(x, digits: int = 4):
  """A number as shown in a check (asymptotes of 1e-17 read 0); None stays None."""
  return None if x is None else round(float(x), digits)


def _arr(x) -> np.ndarray:
  return np.array([np.nan if v is None else v for v in (x or [])], float)


def _failed_wordings(reason: str | None, yes: str, no: str, unsure: str) -> dict:
  """The three wordings of a check that rests on a 4PL fit: when the fit failed, the inconclusive wording
  says so (and every wording shows the reason, as check() requires)."""
  if reason is None:
    return {'yes': yes, 'no': no, 'unsure': unsure}
  return {
    'yes': yes + ' (4PL fit: {fit})',
    'no': no + ' (4PL fit: {fit})',
    'unsure': 'the 4PL fit of exact success failed ({fit}), so this is untested: ' + unsure,
  }


def build_findings(an: dict, config) -> list[dict]:
  return [_cliff_finding(an, config), _mirage_finding(an)]


# ---------------------------------------------------------------------------------------------------------
# The cliff


def _cliff_finding(an: dict, config) -> dict:
  the_claim = F.claim(
    'below a size threshold models fail at structured output, above it they succeed: a sharp step '
    'in success with model size',
    {'success below': CLAIM['below'], 'success above': CLAIM['above']},
    source='the write-up; cf. Wei et al. 2022 (emergent abilities)',
  )
  checks = [_step_check(an, config), _span_check(an, config)]
  checks += [_depth_check(an), _masked_check(an), _permissive_check(an)]
  effect, seeds = None, None
  pair = an.get('pair')
  if pair:
    a, b = _arr(pair['a_values']), _arr(pair['b_values'])
    cmp = stats.compare(a, b, paired=True)
    effect = {
      'name': f'exact success, w={pair["a"]} − w={pair["b"]} ({pair["rule"]}), paired by seed',
      'value': cmp['mean_diff'],
      'ci95': list(cmp['mean_diff_ci95']),
    }
    seeds = stats.seed_sufficiency(a, b, paired=True)
  return F.finding('cliff', TITLE, the_claim, checks, effect=effect, seeds=seeds)


def _step_check(an: dict, config) -> dict:
  fe = an['fits'].get('exact')
  reason = fit_failed(fe)
  fe = fe or {}
  lower, upper = _round(fe.get('lower')), _round(fe.get('upper'))
  rise = _round(upper - lower) if lower is not None and upper is not None else None
  nums = {
    'width': fe.get('width_10_90'),
    'ci': fe.get('width_ci95') or [None, None],
    'bound': config.cliff_decades,
    'rise': rise,
    'lower': lower,
    'upper': upper,
    'min_rise': MIN_RISE,
    'delta_aic': fe.get('delta_aic'),
    'margin': AIC_MARGIN,
  }
  outcome = F.all_of(
    F.below(nums['ci'], nums['bound']),
    F.compare(nums['width'], '<', nums['bound']),
    F.compare(rise, '>=', MIN_RISE),
    F.compare(nums['delta_aic'], '>', AIC_MARGIN),
  )
  if reason is not None:
    nums['fit'], outcome = reason, None
  return F.check(
    'step',
    'exact success steps up within less than the cliff bound of model size (4PL in log10 active params)',
    nums,
    outcome,
    **_failed_wordings(
      reason,
      yes='exact success steps up by {rise} (4PL asymptotes {lower} → {upper}, a step needs ≥ {min_rise}) '
      'within a 10–90% width of {width} decades {ci} of active parameters, under the {bound}-decade '
      'cliff bound, and the logistic beats a straight line by ΔAIC {delta_aic} > {margin}',
      no='no sharp step in exact success: 10–90% width {width} decades {ci} (a cliff needs < {bound}), '
      'rise {rise} (asymptotes {lower} → {upper}; a step needs ≥ {min_rise}), ΔAIC over a straight line '
      '{delta_aic} (needs > {margin})',
      unsure='the 10–90% width {width} decades {ci} is not clear of the {bound}-decade cliff bound, or a '
      'number is missing (rise {rise}, asymptotes {lower} → {upper}, needs ≥ {min_rise}; ΔAIC {delta_aic}, '
      'needs > {margin})',
    ),
    claimed='a threshold',
  )


def _span_check(an: dict, config) -> dict:
  cr = an.get('crossings') or {}
  lo_level, hi_level = CLAIM['below'], CLAIM['above']

  def params(v):
    return 'below the grid' if v == 'below_grid' else (round(10**v) if isinstance(v, float) else None)

  nums = {
    'span': cr.get('decades'),
    'lo_level': lo_level,
    'hi_level': hi_level,
    'from_params': params(cr.get(f'{lo_level:g}')),
    'to_params': params(cr.get(f'{hi_level:g}')),
    'bound': config.cliff_decades,
  }
  return F.check(
    'span',
    'model-free: mean exact success goes from the claimed low level to the claimed high level within '
    'less than the cliff bound',
    nums,
    F.compare(nums['span'], '<', nums['bound']),
    yes='model-free: mean exact success goes from {lo_level} to {hi_level} within {span} decades '
    '(≈{from_params} → ≈{to_params} params), under the {bound}-decade bound',
    no='model-free: mean exact success needs {span} decades to go from {lo_level} to {hi_level} '
    '(≈{from_params} → ≈{to_params} params), not under the {bound}-decade bound',
    unsure='model-free: mean exact success does not cross both {lo_level} and {hi_level} inside the grid '
    '(span {span} decades, ≈{from_params} → ≈{to_params} params; bound {bound})',
    claimed='a threshold',
  )


def _depth_check(an: dict) -> dict:
  fits = {int(d): f for d, f in (an.get('depth_fits') or {}).items() if not fit_failed(f)}
  ds = sorted(fits)
  lo_d, hi_d = (ds[0], ds[-1]) if len(ds) >= 2 else (None, None)

  def centre(d):
    if d is None:
      return None, [None, None]
    f = fits[d]
    ci = [None if v is None else round(10**v) for v in (f.get('center_ci95') or [None, None])]
    return round(10 ** f['center']), ci

  (p_lo, ci_lo), (p_hi, ci_hi) = centre(lo_d), centre(hi_d)
  outcome = None
  if F.above(ci_hi, ci_lo[1] if ci_lo[1] is not None else np.nan) is True:
    outcome = True
  elif F.compare(ci_hi[1], '<=', ci_lo[0]) is True:
    outcome = False
  nums = {
    'shallow': lo_d,
    'deep': hi_d,
    'shallow_params': p_lo,
    'shallow_ci': ci_lo,
    'deep_params': p_hi,
    'deep_ci': ci_hi,
  }
  return F.check(
    'depth',
    'where exact success switches depends on the prefix depth (per-depth 4PL centres, seed-bootstrap CIs)',
    nums,
    outcome,
    yes='the switch point depends on the prefix depth: the 4PL centre moves from ≈{shallow_params} params '
    '{shallow_ci} at depth {shallow} to ≈{deep_params} {deep_ci} at depth {deep}, CIs apart, so the '
    "aggregate threshold averages per-depth thresholds over the test set's depth mix",
    no='the switch point does not move to larger models with depth: the centre at depth {deep} '
    '(≈{deep_params} params {deep_ci}) lies at or below the CI at depth {shallow} '
    '(≈{shallow_params} {shallow_ci})',
    unsure='whether the switch point moves with prefix depth is undecided: centre ≈{shallow_params} params '
    '{shallow_ci} at depth {shallow} vs ≈{deep_params} {deep_ci} at depth {deep} (the CIs overlap, or '
    'fewer than two depths could be fitted)',
    role='audit',
  )


def _masked_check(an: dict) -> dict:
  nums = {'max_abs': an['audit'].get('inactive_max_abs'), 'required': MASKED_REQUIRED}
  return F.check(
    'masked',
    "the masked units' parameters stay exactly 0, so each width is a genuine model of its active size",
    nums,
    F.compare(nums['max_abs'], '==', MASKED_REQUIRED),
    yes="the masked units' parameters stayed at max |value| {max_abs} (must be {required}): each width is "
    'a genuine model of its active size',
    no="the masked units' parameters moved to max |value| {max_abs} (must be {required}): the widths are "
    'not genuine models of their active size, and the size axis is not what it says',
    unsure="the masked units' largest |value| was not recorded ({max_abs}; must be {required})",
    role='audit',
  )


def _permissive_check(an: dict) -> dict:
  a = an['audit']
  nums = {
    'n_above': a.get('runs_permissive_above_exact'),
    'n_runs': a.get('runs_compared'),
    'allowed': PERMISSIVE_ALLOWED,
    'max_gap': a.get('max_permissive_minus_exact'),
  }
  return F.check(
    'permissive',
    'permissive success (any well-formed completion) equals exact success',
    nums,
    F.compare(nums['n_above'], '<=', PERMISSIVE_ALLOWED) if nums['n_runs'] else None,
    yes='permissive success exceeded exact success in {n_above} of {n_runs} runs (at most {allowed}; '
    'largest gap {max_gap}): the models never close with extra balanced pairs, so the metrics coincide',
    no='permissive success exceeded exact success in {n_above} of {n_runs} runs (more than {allowed}; '
    'largest gap {max_gap}): some completions close with extra balanced pairs',
    unsure='permissive vs exact success not compared ({n_above} of {n_runs} runs, allowed {allowed}, '
    'largest gap {max_gap})',
    role='audit',
  )


# ---------------------------------------------------------------------------------------------------------
# The metric mirage


def _mirage_finding(an: dict) -> dict:
  the_claim = F.claim(
    'the jump is a property of model size, not of the exact-match metric: a smooth metric (per-token '
    'accuracy) rises over the same span of model sizes; Schaeffer, Miranda & Koyejo (NeurIPS 2023) argue '
    'that such jumps often come from all-or-nothing metrics',
    source='the write-up (implicit); the alternative from Schaeffer et al. 2023',
  )
  mb = an.get('mirage') or {}
  nums = {
    'width_token': mb.get('width_token'),
    'width_exact': mb.get('width_exact'),
    'diff': mb.get('width_diff'),
    'ci': mb.get('width_diff_ci95') or [None, None],
    'tol': MIRAGE_DECADES,
    'n_boot': mb.get('n_boot_used'),
  }
  same = F.check(
    'same_span',
    'per-token accuracy rises over the same span of model sizes as exact success',
    nums,
    F.within(nums['ci'], -MIRAGE_DECADES, MIRAGE_DECADES),
    yes='per-token accuracy rises over the same span as exact success: 10–90% widths {width_token} vs '
    '{width_exact} decades, difference {diff} {ci} (paired seed bootstrap, {n_boot} resamples) inside '
    '±{tol}: the exact metric does not manufacture a sharper jump',
    no='the two metrics rise over different spans: 10–90% widths {width_token} (per-token) vs '
    '{width_exact} (exact) decades, difference {diff} {ci} ({n_boot} resamples) outside ±{tol} (a '
    'positive difference means the jump is at least partly made by the all-or-nothing metric)',
    unsure='same span undecided: 10–90% widths {width_token} (per-token) vs {width_exact} (exact) decades, '
    'difference {diff} {ci} ({n_boot} resamples) not inside ±{tol}, or the fits failed',
  )
  checks = [same, _shift_check(mb), _power_check(an)]
  effect = {
    'name': '10–90% width, per-token accuracy − exact success (decades), paired seed bootstrap',
    'value': mb.get('width_diff'),
    'ci95': mb.get('width_diff_ci95') or [None, None],
  }
  sf = an.get('seed_fits') or {}
  seeds = stats.seed_sufficiency(_arr(sf.get('token_acc')), _arr(sf.get('exact')), paired=True)
  return F.finding(
    'mirage',
    'Metric-mirage audit: per-token accuracy vs exact success',
    the_claim,
    checks,
    effect=effect,
    seeds=seeds,
  )


def _shift_check(mb: dict) -> dict:
  nums = {
    'shift': mb.get('center_shift'),
    'ci': mb.get('center_shift_ci95') or [None, None],
    'bound': CENTRE_SHIFT_MIN,
  }
  return F.check(
    'centre_shift',
    'exact success switches at larger models than per-token accuracy (it needs every token right)',
    nums,
    F.above(nums['ci'], CENTRE_SHIFT_MIN),
    yes="exact success's 4PL centre lies {shift} {ci} decades to the right of per-token accuracy's "
    '(above {bound}): needing every token right, it switches later',
    no="exact success's 4PL centre does not lie to the right of per-token accuracy's: shift {shift} {ci} "
    'decades (at or below {bound})',
    unsure="exact success's centre shift {shift} {ci} decades relative to per-token accuracy cannot be "
    'told from {bound}',
    role='audit',
  )


def _power_check(an: dict) -> dict:
  a = an['audit']
  nums = {
    'max_gap': a.get('predicted_minus_exact_maxabs'),
    'mean_gap': a.get('predicted_minus_exact_mean'),
    'tol': ACC_L_TOLERANCE,
  }
  return F.check(
    'power_of_smooth',
    'exact success behaves like a power of the smooth metric (acc^L, L = mean target length)',
    nums,
    F.compare(nums['max_gap'], '<=', ACC_L_TOLERANCE),
    yes='acc^L predicts mean exact success within {max_gap} at every width (mean gap {mean_gap}; '
    'tolerance {tol}): exact success behaves like a power of the smooth metric',
    no='acc^L misses mean exact success by up to {max_gap} (mean gap {mean_gap}; tolerance {tol}): exact '
    'success does not behave like a power of the smooth metric (token errors are not independent)',
    unsure='acc^L vs exact success not measured (largest gap {max_gap}, mean gap {mean_gap}; '
    'tolerance {tol})',
    role='audit',
  )


# ---------------------------------------------------------------------------------------------------------
# The training budget (needs metrics.jsonl: added by the report)


def loss_drops(log, widths) -> dict | None:
  """Per width, the relative drop of the mean training loss over the last fifth of training (widths whose
  loss there is above LOSS_FLOOR only); None when no width logged enough losses to tell."""
  drops, measured = {}, False
  for w in widths:
    steps, vals = log.curves('gru', 'loss', {'width': w})
    if len(steps) < 5:
      continue
    measured = True
    m = np.nanmean(vals, axis=0)
    i = int(np.searchsorted(steps, 0.8 * steps[-1]))
    tail = m[-max(1, len(m) // 10) :].mean()  # average the last points: single logged losses are noisy
    if np.isfinite(m[i]) and m[i] > LOSS_FLOOR:
      drops[w] = float(1 - tail / m[i])
  return drops if measured else None


def budget_check(drops: dict | None) -> dict:
  """Audit check: no width above the loss floor still lowered its loss by more than LOSS_DROP_BOUND
  (``drops`` from loss_drops; None: not measured)."""
  still = [w for w, d in (drops or {}).items() if d > LOSS_DROP_BOUND]
  nums = {
    'max_drop': None if drops is None else max(drops.values(), default=0.0),
    'drop_bound': LOSS_DROP_BOUND,
    'loss_floor': LOSS_FLOOR,
    'still': ', '.join(f'w={w}' for w in still) or 'none',
  }
  return F.check(
    'budget',
    'the fixed step budget does not limit the curve (training loss no longer falling at the end)',
    nums,
    F.compare(nums['max_drop'], '<=', LOSS_DROP_BOUND),
    yes='training budget: no width with a training loss above {loss_floor} nats lowered it by more than '
    '{drop_bound} over the last fifth of training (largest relative drop {max_drop}; still falling: '
    '{still}), so the curve is close to what these sizes reach',
    no='training budget: {still} still lowered the mean training loss by more than {drop_bound} over the '
    'last fifth of training (up to {max_drop}; losses above {loss_floor} nats count): this is a '
    'capacity-under-budget curve, not an asymptotic one; longer training would move those sizes up',
    unsure='training budget not measured: too few logged losses (largest drop {max_drop}, bound '
    '{drop_bound}, floor {loss_floor}, still falling: {still})',
    role='audit',
  )
