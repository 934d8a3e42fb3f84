"""Findings of the self-modifying family: the post-mortem's claims as checks over the analysis' numbers
(exp/analysis/findings.py). ``build_findings(analysis, config)`` returns six findings: the write-up's
numbers beside ours, "fixed beats self-modifying", where the drops come from (the factorial), gradient
conflict, PCGrad as the cure, and the split cliff. Effects are in accuracy points, paired by seed; an
effect "exists" when its 95% CI lies above 0 and its mean is at least ``config.min_effect``, and "is
absent" when its CI lies inside ±min_effect or below 0. See docs/families/self_modifying.md.
"""

from __future__ import annotations

import numpy as np

from exp.analysis import findings as F
from exp.analysis import stats

from .analysis import CLAIM, FAILURES, cell_name
from .checks import _diff, _effect, _seeds, effect_check

SOURCE = 'the "0/3 wins" post-mortem'
BASELINE_TOLERANCE = 10.0  # points: the toy's baseline counts as "near the write-up's" within this
SHARE = 0.5  # the split "explains" a failure when at least this share of its drop is the split cliff
CORR_MIN = 0.3  # |r| a correlation must reach to "explain" the drop
AUC_MARGIN = 0.05  # a split is "unshifted" when the domain AUC's CI lies inside 0.5 ± this
LABEL = {
  'pseudo': 'synthetic labels',
  'entropy_aux': 'entropy + auxiliary loss',
  'entropy': 'entropy constraint',
}


def build_findings(an: dict, config) -> list[dict]:
  m = float(config.min_effect)
  return [
    _numbers(an, m),
    _fixed_beats(an, m, config.alpha),
    _drop_source(an, m),
    _conflict(an),
    _pcgrad(an, m),
    _split(an, m),
  ]


def _numbers(an: dict, m: float) -> dict:
  base = cell_name('fixed', 'none', 'random')
  checks, head = [], None
  for o in FAILURES:
    e = _diff(an, base, cell_name('selfmod', o, 'random'))
    if e is None:
      continue
    head = head or e
    what = f'fixed/none minus self-modifying + {LABEL[o]} (random split)'
    checks.append(
      effect_check(
        f'drop_{o}',
        f'self-modifying + {LABEL[o]} is below the fixed baseline',
        e,
        m,
        what,
        round(CLAIM['baseline'] - CLAIM[o], 2),
      )
    )
    e_tail = _diff(an, base, cell_name('selfmod', o, 'tail'))
    what = f'fixed/none (random split) minus self-modifying + {LABEL[o]} (tail split)'
    checks.append(
      effect_check(f'drop_{o}_tail', 'the same, the failure on the tail split', e_tail, m, what, role='audit')
    )
  b = an['cells'].get(base) or {}
  nums = {
    'mean': b.get('mean'),
    'ci': b.get('ci95') or [None, None],
    'claimed': CLAIM['baseline'],
    'tol': BASELINE_TOLERANCE,
  }
  lo, hi = CLAIM['baseline'] - BASELINE_TOLERANCE, CLAIM['baseline'] + BASELINE_TOLERANCE
  checks.append(
    F.check(
      'baseline',
      "the toy's fixed baseline is near the write-up's",
      nums,
      F.within(nums['ci'], lo, hi),
      yes="fixed/none validation accuracy {mean}% {ci} lies within ±{tol} of the write-up's {claimed}%",
      no="fixed/none validation accuracy {mean}% {ci} lies outside ±{tol} of the write-up's {claimed}%",
      unsure="fixed/none validation accuracy {mean}% {ci} straddles ±{tol} around the write-up's {claimed}%",
      role='audit',
    )
  )
  the_claim = F.claim(
    'a fixed architecture reaches 69.80%; self-modifying networks reach 58.30% (synthetic labels), 42.76% '
    '(entropy regularization + auxiliary loss), 57.57% (direct entropy constraints): 0/3 wins',
    {k: CLAIM[k] for k in ('baseline', 'pseudo', 'entropy_aux', 'entropy')},
    SOURCE,
  )
  return F.finding(
    'numbers',
    "The write-up's numbers beside ours",
    the_claim,
    checks,
    effect=_effect('fixed/none − first failure cell, random split', head),
    seeds=_seeds(head),
  )


def _fixed_beats(an: dict, m: float, alpha: float) -> dict:
  ef = an['effects']
  checks = [
    effect_check(
      f'arch_{s}',
      f'fixed beats self-modifying on the {s} split',
      ef.get(f'arch_{s}'),
      m,
      f'fixed minus self-modifying, mean over objectives ({s} split)',
    )
    for s in an['splits']
  ]
  pvals = [(an['anova'].get(s) or {}).get('arch', {}).get('p') for s in an['splits']]
  adj = stats.holm([np.nan if p is None else p for p in pvals])
  for s, pa in zip(an['splits'], adj):
    a = (an['anova'].get(s) or {}).get('arch', {})
    nums = {'F': a.get('F'), 'df1': a.get('df1'), 'df2': a.get('df2'), 'p': pa, 'alpha': alpha}
    checks.append(
      F.check(
        f'anova_{s}',
        f'repeated-measures ANOVA, architecture main effect ({s} split)',
        nums,
        F.significant(pa, alpha),
        yes='architecture main effect F({df1}, {df2}) = {F}, Holm p = {p} < {alpha}',
        no='no architecture main effect: F({df1}, {df2}) = {F}, Holm p = {p} ≥ {alpha}',
        unsure='architecture main effect untested (F({df1}, {df2}) = {F}, p = {p}, alpha {alpha})',
        kinds={'p': 'p'},
        role='audit',
      )
    )
  the_claim = F.claim(
    'inherited fixed structure + parameter adaptation beats on-the-fly modification', {}, SOURCE
  )
  e = ef.get('arch')
  return F.finding(
    'fixed_beats_selfmod',
    'Fixed beats self-modifying',
    the_claim,
    checks,
    effect=_effect('fixed − self-modifying (all cells)', e),
    seeds=_seeds(e),
  )


def _drop_source(an: dict, m: float) -> dict:
  ef = an['effects']
  parts = [
    ('objective', 'the auxiliary objectives cost accuracy', "none minus the write-up's objectives (mean)"),
    ('arch', 'self-modification costs accuracy', 'fixed minus self-modifying (mean)'),
    ('split', 'the tail split costs accuracy', 'random minus tail split (mean)'),
  ]
  checks = [effect_check(k, st, ef.get(k), m, what) for k, st, what in parts]
  for o, d in (an.get('decomposition') or {}).items():
    t = d['total']
    nums = {
      'share': d.get('split_share'),
      'total': t.get('mean'),
      'ci': t.get('ci95') or [None, None],
      'split': d['split'].get('mean'),
      'bound': SHARE,
    }
    outcome = None
    if F.above(nums['ci'], 0.0):
      outcome = F.compare(nums['share'], '>=', SHARE)
    checks.append(
      F.check(
        f'share_{o}',
        f'the split explains the drop of self-modifying + {LABEL[o]} on the tail split',
        nums,
        outcome,
        yes=f'{LABEL[o]}: the split cliff {{split}} is a share {{share}} ≥ {{bound}} of the total drop {{total}} {{ci}}',
        no=f'{LABEL[o]}: the split cliff {{split}} is a share {{share}} < {{bound}} of the total drop {{total}} {{ci}}',
        unsure=f'{LABEL[o]}: no total drop to share out ({{total}} {{ci}}; split {{split}}, share {{share}}, bound {{bound}})',
        role='audit',
      )
    )
  the_claim = F.claim(
    'the failures come from auxiliary losses conflicting with the primary loss, the architecture moving while '
    'the gradients settle, and the validation split (a 13% cliff)',
    {'cliff': CLAIM['cliff']},
    SOURCE,
  )
  best = max((k for k, _, _ in parts if ef.get(k)), key=lambda k: ef[k].get('mean') or -np.inf, default=None)
  e = ef.get(best) if best else None
  return F.finding(
    'drop_source',
    'Where the drops come from (the factorial)',
    the_claim,
    checks,
    effect=_effect(f'largest main effect: {best}', e),
    seeds=_seeds(e),
  )


def _conflict(an: dict) -> dict:
  co = an['conflict']
  names = [n for n in co['cells'] if n.split('/')[1] == 'entropy_aux']
  c = {n: co['cells'][n] for n in names}
  means = [c[n]['cos_mean'] for n in names]
  mean = (
    float(np.mean([d['mean'] for d in means]))
    if means and all(d['mean'] is not None for d in means)
    else None
  )
  top = max((d['ci95'][1] for d in means if d['ci95'][1] is not None), default=None)
  bottom = min((d['ci95'][0] for d in means if d['ci95'][0] is not None), default=None)
  fneg = [c[n].get('cos_frac_neg', {}).get('mean') for n in names]
  nums = {
    'cos': mean,
    'worst_hi': top,
    'best_lo': bottom,
    'frac_neg': float(np.mean(fneg)) if fneg and None not in fneg else None,
    'cells': len(names),
  }
  outcome = None
  if top is not None and bottom is not None:
    outcome = True if top < 0 else (False if bottom > 0 else None)
  checks = [
    F.check(
      'conflict',
      'the entropy + auxiliary gradients conflict with the primary gradient',
      nums,
      outcome,
      yes="mean cosine {cos} over {cells} cells, every cell's CI below 0 (CI ends from {best_lo} to {worst_hi}); {frac_neg} of steps negative",
      no="mean cosine {cos} over {cells} cells, every cell's CI above 0 (CI ends from {best_lo} to {worst_hi}); {frac_neg} of steps negative",
      unsure='mean cosine {cos} over {cells} cells: CIs not all on one side of 0 (upper end {worst_hi}, lower end {best_lo}); {frac_neg} of steps negative',
    )
  ]
  r = co['correlation']
  nums = {
    'r': r.get('r'),
    'ci': r.get('ci95') or [None, None],
    'n': r.get('n'),
    'bound': CORR_MIN,
    'rho': r.get('spearman'),
  }
  ci = nums['ci']
  outcome = True if F.all_of(F.below(ci, 0.0), F.compare(nums['r'], '<=', -CORR_MIN)) else None
  if F.above(ci, -CORR_MIN):
    outcome = False
  checks.append(
    F.check(
      'explains',
      'gradient conflict explains the drop (more conflict, larger drop)',
      nums,
      outcome,
      yes='over {n} runs the mean cosine correlates with the drop at r = {r} {ci} (≤ −{bound}; Spearman {rho})',
      no='over {n} runs the mean cosine does not explain the drop: r = {r} {ci}, above −{bound} (Spearman {rho})',
      unsure='over {n} runs r = {r} {ci} is undecided against −{bound} (Spearman {rho})',
    )
  )
  the_claim = F.claim('auxiliary losses conflict with the primary loss when optimized together', {}, SOURCE)
  e = (an['effects'] or {}).get('obj_entropy_aux')
  return F.finding(
    'conflict',
    'Gradient conflict',
    the_claim,
    checks,
    effect=_effect('none − entropy + auxiliary (all cells)', e),
    seeds=_seeds(e),
  )


def _pcgrad(an: dict, m: float) -> dict:
  e, rec = an.get('pcgrad'), an.get('pcgrad_vs_none')
  checks = [
    effect_check(
      'improves',
      'PCGrad improves on the unprojected pair',
      e,
      m,
      'PCGrad minus unprojected entropy + auxiliary (mean)',
    )
  ]
  rec = rec or {}
  nums = {'mean': rec.get('mean'), 'ci': rec.get('ci95') or [None, None], 'm': m}
  outcome = True if F.within(nums['ci'], -m, m) else (False if F.above(nums['ci'], m) else None)
  checks.append(
    F.check(
      'recovers',
      'with PCGrad the pair matches no auxiliary objective',
      nums,
      outcome,
      yes='none minus PCGrad: {mean} points {ci}, inside ±{m}',
      no='none minus PCGrad: {mean} points {ci}, above {m}: PCGrad still loses accuracy',
      unsure='none minus PCGrad: {mean} points {ci}, undecided against ±{m}',
    )
  )
  the_claim = F.claim(
    'projecting the auxiliary gradient off the primary one (PCGrad) cures the conflict',
    {},
    'the issue (test of the named cause); Yu et al. 2020',
  )
  return F.finding(
    'pcgrad',
    'PCGrad as the cure',
    the_claim,
    checks,
    effect=_effect('PCGrad − unprojected', e),
    seeds=_seeds(e),
  )


def _split(an: dict, m: float) -> dict:
  sh = an.get('shift') or {}
  tail, rnd = sh.get('tail') or {}, sh.get('random') or {}
  auc = tail.get('auc') or {}
  nums = {
    'auc': auc.get('mean'),
    'ci': auc.get('ci95') or [None, None],
    'tv': (tail.get('tv') or {}).get('mean'),
    'frac': tail.get('frac_mmd_significant'),
    'margin': AUC_MARGIN,
  }
  outcome = (
    True
    if F.above(nums['ci'], 0.5 + AUC_MARGIN)
    else (False if F.within(nums['ci'], 0.5 - AUC_MARGIN, 0.5 + AUC_MARGIN) else None)
  )
  checks = [
    F.check(
      'shifted',
      'the tail split changes the data distribution',
      nums,
      outcome,
      yes='tail split vs its validation set: domain AUC {auc} {ci} above 0.5 + {margin}; class-prior TV {tv}; MMD significant in {frac} of seeds',
      no='tail split vs its validation set: domain AUC {auc} {ci} inside 0.5 ± {margin}; class-prior TV {tv}; MMD significant in {frac} of seeds',
      unsure='tail split vs its validation set: domain AUC {auc} {ci} undecided against 0.5 ± {margin}; class-prior TV {tv}; MMD significant in {frac} of seeds',
    )
  ]
  cliff = _diff(an, cell_name('fixed', 'none', 'random'), cell_name('fixed', 'none', 'tail'))
  checks.append(
    effect_check(
      'cliff',
      'the tail split opens an accuracy cliff',
      cliff,
      m,
      'fixed/none random minus tail split',
      CLAIM['cliff'],
    )
  )
  auc_r = rnd.get('auc') or {}
  nums = {
    'auc': auc_r.get('mean'),
    'ci': auc_r.get('ci95') or [None, None],
    'tv': (rnd.get('tv') or {}).get('mean'),
    'frac': rnd.get('frac_mmd_significant'),
    'margin': AUC_MARGIN,
  }
  checks.append(
    F.check(
      'random_unshifted',
      'the random split leaves the distribution unchanged',
      nums,
      F.within(nums['ci'], 0.5 - AUC_MARGIN, 0.5 + AUC_MARGIN),
      yes='random split: domain AUC {auc} {ci} inside 0.5 ± {margin}; TV {tv}; MMD significant in {frac} of seeds',
      no='random split: domain AUC {auc} {ci} outside 0.5 ± {margin}; TV {tv}; MMD significant in {frac} of seeds',
      unsure='random split: domain AUC {auc} {ci} straddles 0.5 ± {margin}; TV {tv}; MMD significant in {frac} of seeds',
      role='audit',
    )
  )
  the_claim = F.claim(
    'the validation split itself changed the data distribution: a 13% cliff',
    {'cliff': CLAIM['cliff']},
    SOURCE,
  )
  return F.finding(
    'split',
    'The split cliff',
    the_claim,
    checks,
    effect=_effect('fixed/none random − tail', cliff),
    seeds=_seeds(cliff),
  )
