"""The persona_dpo family's conclusions as checks (exp/analysis/findings.py): every sentence of the report's
findings comes from here, worded per outcome and showing all its numbers.

- ``pipeline``: the claimed order raises alignment and the high-alignment rate, lowers the break rate, and
  the persona survives without the system prompt in most cases; audits: capability (neutral-text NLL),
  diversity, the repeated-measures ANOVA over the phases.
- ``order``: whether the phase order matters (the write-up's order against the cited pipeline's).
- ``components``: whether each stage adds to the other (the full pipeline against DPO only / SFT only).
"""

from __future__ import annotations

import math

import numpy as np

from exp.analysis import findings as F
from exp.analysis import stats
from exp.families.persona_dpo.common import ALPHA, CLAIM, METRIC_LABELS, ORDER_LABELS, final_snapshot

MAJORITY = 0.5  # "the persona survives" in most cases: the survival rate's CI lies above this


def _num(x):
  return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else x


def _diff(cmp: dict | None) -> tuple:
  """(mean paired difference, its 95% CI, g_av) of a paired stats.compare, Nones when missing."""
  if not cmp:
    return None, [None, None], None
  ci = [_num(v) for v in cmp['mean_diff_ci95']]
  return _num(cmp['mean_diff']), ci, _num(cmp.get('g_av'))


def moved(ci, p_holm, direction: int) -> bool | None:
  """True when the paired CI lies wholly on the ``direction`` side of 0 and the Holm-adjusted p < ALPHA;
  False when the CI lies wholly on the other side or touches it at 0 (F.above / F.below); else None."""
  side = F.above(ci, 0.0) if direction > 0 else F.below(ci, 0.0)
  if side is False:
    return False
  if side is True and p_holm is not None and p_holm < ALPHA:
    return True
  return None


def differs(ci, p_holm, margin: float) -> bool | None:
  """Order matters: False when the paired CI lies inside ±margin (equivalent within the margin, even if
  significant); else True when the Holm-adjusted paired p < ALPHA; else None."""
  if F.within(ci, -margin, margin):
    return False
  if p_holm is not None and p_holm < ALPHA:
    return True
  return None


def _claim_check(row: dict, direction: int, label: str, where: str) -> dict:
  diff, ci, g_av = _diff(row['cmp'])
  nums = {'base': row['base']['mean'], 'trained': row['trained']['mean'], 'diff': diff, 'ci': ci}
  nums.update(p=row['holm_p'], g_av=g_av)
  txt = '{base} → {trained} (' + where + '), paired difference {diff} {ci}, Holm p {p}, g_av {g_av}'
  verb = (
    ('rises', 'does not rise', 'rise is undecided')
    if direction > 0
    else ('falls', 'does not fall', 'fall is undecided')
  )
  return F.check(
    row['name'].split(' ')[0] + ('_up' if direction > 0 else '_down'),
    f'the claimed pipeline {"raises" if direction > 0 else "lowers"} the {label}',
    nums,
    moved(ci, row['holm_p'], direction),
    yes=f'the {label} {verb[0]}: ' + txt,
    no=f'the {label} {verb[1]}: ' + txt,
    unsure=f'the {label} {verb[2]}: ' + txt,
    kinds={'p': 'p'},
    claimed=f'{row["claimed"][0]} → {row["claimed"][1]}' if row.get('claimed') else None,
  )


def _survive_check(an: dict, config) -> dict:
  d = an.get('survive') or {}
  ci = [_num(v) for v in d.get('ci95', [None, None])]
  nums = {'rate': _num(d.get('mean')), 'ci': ci, 'bound': MAJORITY, 's': config.survive_threshold}
  txt = 'rate of s ≥ {s} without SYS after training {rate} {ci}'
  return F.check(
    'survive',
    'the persona survives without the system prompt in most cases',
    nums,
    F.above(ci, MAJORITY),
    yes='the persona survives without SYS in most cases: ' + txt + ' lies above {bound}',
    no='the persona does not survive without SYS in most cases: ' + txt + ' lies at or below {bound}',
    unsure='survival without SYS is undecided: ' + txt + ' straddles {bound}',
    claimed=CLAIM['survive'],
  )


def _audits(an: dict, config) -> list:
  rows = {r['name']: r for r in an['claim_rows']}
  out = []
  for name, tol, sign, what in (
    ('neutral-text NLL', config.nll_tolerance, 1, 'capability'),
    ('diversity (no SYS)', config.div_tolerance, -1, 'diversity'),
  ):
    diff, ci, _ = _diff(rows[name]['cmp'])
    nums = {'base': rows[name]['base']['mean'], 'trained': rows[name]['trained']['mean'], 'diff': diff}
    nums.update(ci=ci, tol=tol)
    if sign > 0:  # a rise of NLL beyond tol is a capability loss
      outcome = F.below(ci, tol)
      bound = 'below +{tol}'
    else:  # a fall of diversity beyond tol is a loss
      outcome = F.above(ci, -tol)
      bound = 'above −{tol}'
    txt = '{base} → {trained}, change {diff} {ci}'
    out.append(
      F.check(
        what + '_kept',
        f'the pipeline keeps {what} ({name})',
        nums,
        outcome,
        yes=f'{what} kept: {name} ' + txt + f', CI {bound}',
        no=f'{what} lost: {name} ' + txt + f', CI beyond {bound.split(" ")[1]}',
        unsure=f'{what} kept is undecided: {name} ' + txt + f', CI straddles {bound.split(" ")[1]}',
        role='audit',
      )
    )
  a = an.get('rm_anova', {}).get('align_nosys') or {}
  nums = {k: _num(a.get(k)) for k in ('F', 'df_num', 'df_den', 'p')}
  txt = 'repeated-measures ANOVA of alignment without SYS over the 4 evaluations: F({df_num}, {df_den}) = {F}, p {p}'
  out.append(
    F.check(
      'phases_rm_anova',
      'alignment without SYS changes over the phases of the claimed order',
      nums,
      F.significant(nums['p'], ALPHA),
      yes='alignment changes over the phases: ' + txt,
      no='no change of alignment over the phases detected: ' + txt,
      unsure='change over the phases undefined: ' + txt,
      kinds={'p': 'p'},
      role='audit',
    )
  )
  return out


def _pair_check(
  an: dict, other: str, metric: str, margin: float, name: str, statement: str, outcome_fn
) -> dict:
  rows = {r['metric']: r for r in an['order_rows'].get(other, [])}
  row = rows.get(metric)
  diff, ci, g_av = _diff(row['cmp'] if row else None)
  nums = {
    'claimed_v': row['claimed']['mean'] if row else None,
    'other_v': row['other']['mean'] if row else None,
    'diff': diff,
    'ci': ci,
    'p': row['holm_p'] if row else None,
    'margin': margin,
  }
  txt = f'{METRIC_LABELS[metric]}: claimed order {{claimed_v}} vs {ORDER_LABELS.get(other, other)} {{other_v}}, paired difference {{diff}} {{ci}}, Holm p {{p}}, margin ±{{margin}}'
  return F.check(
    name,
    statement,
    nums,
    outcome_fn(ci, nums['p'], margin, diff),
    yes=statement + ': ' + txt,
    no='not so: ' + txt,
    unsure='undecided: ' + txt,
    kinds={'p': 'p'},
  )


def _order_finding(an: dict, config) -> dict:
  fn = lambda ci, p, margin, diff: differs(ci, p, margin)
  checks = [
    _pair_check(an, 'cited', m, tol, f'order_{m}', f'phase order changes the {METRIC_LABELS[m]}', fn)
    for m, tol in (
      ('align_nosys', config.order_margin),
      ('break_ign', config.order_margin),
      ('nll_neutral', config.nll_tolerance),
    )
  ]
  return F.finding(
    'order',
    'Phase order matters',
    F.claim(
      'The write-up presents its order, intro SFT → dialogue SFT → DPO, as the pipeline; the pipeline it '
      'cites runs DPO (context distillation) → intro SFT. Reproduced here means the order matters: then the '
      "write-up's numbers belong to its own order, not to the cited pipeline's.",
      {'claimed order': 'intro → dialogue → DPO', 'cited order': 'DPO → intro'},
    ),
    checks,
    effect=_effect(checks[0], 'alignment without SYS, claimed − cited order'),
    seeds=_seeds(an, 'claimed', 'cited', 'align_nosys'),
  )


def _adds(ci, p, margin, diff) -> bool | None:
  """A stage adds: False when the paired CI lies inside ±margin or wholly below 0; else True when the full
  pipeline is higher (Holm p < ALPHA, positive difference); else None."""
  if F.within(ci, -margin, margin) or F.below(ci, 0.0):
    return False
  if p is not None and p < ALPHA and diff is not None and diff > 0:
    return True
  return None


def _components_finding(an: dict, config) -> dict:
  m = config.order_margin
  checks = [
    _pair_check(
      an, 'sft_only', 'align_nosys', m, 'dpo_adds', 'DPO adds alignment on top of the SFT stages', _adds
    ),
    _pair_check(
      an, 'dpo_only', 'align_nosys', m, 'sft_adds', 'the SFT stages add alignment on top of DPO', _adds
    ),
  ]
  return F.finding(
    'components',
    'Each stage contributes',
    F.claim('The three stages together give the persona: neither the SFT stages nor DPO alone do.'),
    checks,
    effect=_effect(checks[0], 'alignment without SYS, full − SFT only'),
    seeds=_seeds(an, 'claimed', 'sft_only', 'align_nosys'),
  )


def _effect(check: dict, name: str) -> dict:
  n = check['numbers']
  return {'name': name, 'value': n['diff'], 'ci95': n['ci']}


def _seeds(an: dict, a: str, b: str, metric: str) -> dict | None:
  po = an['per_order']
  if a not in po or b not in po:
    return None
  va = np.array(po[a][metric]['values'][final_snapshot(a)], float)
  vb = np.array(po[b][metric]['values'][final_snapshot(b)], float)
  if va.size != vb.size:
    return None
  return stats.seed_sufficiency(va, vb, paired=True)


def build_findings(an: dict, config) -> list:
  rows = {r['name']: r for r in an['claim_rows']}
  if not rows:
    return []
  checks = [
    _claim_check(rows['alignment'], 1, 'persona alignment', 'base with SYS → trained without SYS'),
    _claim_check(
      rows['high-alignment rate'], 1, 'high-alignment rate', 'base with SYS → trained without SYS'
    ),
    _claim_check(
      rows['break rate (IGN)'], -1, 'break rate on IGN prompts', 'base SYS + IGN → trained IGN without SYS'
    ),
    _survive_check(an, config),
  ] + _audits(an, config)
  pipeline = F.finding(
    'pipeline',
    'The claimed pipeline builds the persona',
    F.claim(
      'Introspective SFT → dialogue SFT (half with the system prompt) → constitutional DPO raises persona '
      'alignment 0.57 → 0.79, the high-alignment rate 29% → 83%, lowers the break rate 65% → 35%, and the '
      'persona survives without the system prompt in 84% of cases',
      {k: v for k, v in CLAIM.items()},
      source='Open Character Training write-up (47 runs, 5 personas)',
    ),
    checks,
    effect=_effect(checks[0], 'alignment, trained (no SYS) − base (SYS)'),
    seeds=an.get('seeds'),
  )
  return [pipeline, _order_finding(an, config), _components_finding(an, config)]
