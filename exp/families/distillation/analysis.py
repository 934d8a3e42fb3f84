"""Statistics of the distillation family (host side, numpy/scipy): per-setup summaries, the spike ratios
across the switch, hybrid vs on-only comparisons, the learning-rate sensitivity of the source's setup, and
the findings (exp/families/distillation/findings.py).

``analyze(runs, config)`` returns ``{'arms': {arm: {'setups', 'comparisons', 'spike_setups',
'lr_sensitivity'}}, 'pretrain', 'switch_step', 'num_steps', 'claim', 'findings', 'headline'}``.
"""

from __future__ import annotations

import math

import numpy as np

from exp.analysis import findings as F
from exp.analysis import stats
from exp.families.distillation.common import (
  ARMS,
  AT_SWITCH,
  CLAIM,
  CORRECT_SETUP,
  LR_ARM_SUFFIX,
  SOURCE_SETUP,
  arm_lr,
  sensitivity_lrs,
  setup_key,
  setup_label,
  setups,
)
from exp.families.distillation.findings import build_findings

PHASES = ('before_switch', 'at_switch', 'later')
PHASE_RULE = (
  'a setup collapses when more than half of its runs have a change point (exactly half: undecided); its '
  f'collapse phase is the phase (before the switch, within {AT_SWITCH} steps after it, later) holding the most '
  'of those change points; a tie for the most is undecided'
)


def collapse_phase(n_with: int, n: int, counts: dict) -> str | None:
  """PHASE_RULE: 'none' (at most a minority of runs collapse), one of PHASES, or None (undecided: exactly
  half the runs collapse, or two phases tie for the most change points)."""
  if n == 0 or 2 * n_with == n:
    return None
  if 2 * n_with < n:
    return 'none'
  top = max(counts[p] for p in PHASES)
  winners = [p for p in PHASES if counts[p] == top]
  return winners[0] if len(winners) == 1 else None


def _geo(d: dict) -> dict:
  """describe() of log10 values -> geometric mean and its CI on the original scale."""
  if d is None or d['n'] == 0 or d['mean'] is None or not np.isfinite(d['mean']):
    return {'n': d['n'] if d else 0, 'geo_mean': None, 'ci95': [None, None]}
  lo, hi = d['ci95']
  return {
    'n': d['n'],
    'geo_mean': 10 ** d['mean'],
    'ci95': [10**lo if np.isfinite(lo) else None, 10**hi if np.isfinite(hi) else None],
  }


def _group(runs, config) -> tuple[dict, dict]:
  """({arm: {setup_key: [run records sorted by seed]}} in setup order, {arm: [records of `<arm>_lrs`]})."""
  order = [setup_key(g, config.num_steps) for g in setups(config)]
  out: dict = {}
  lr_runs: dict = {}
  for r in runs:
    if r['arm'] in ARMS:
      out.setdefault(r['arm'], {}).setdefault(setup_key(r['grid'], config.num_steps), []).append(r)
    elif r['arm'].endswith(LR_ARM_SUFFIX) and r['arm'][: -len(LR_ARM_SUFFIX)] in ARMS:
      lr_runs.setdefault(r['arm'][: -len(LR_ARM_SUFFIX)], []).append(r)
  groups = {a: {k: sorted(d[k], key=lambda r: r['seed']) for k in order if k in d} for a, d in out.items()}
  return groups, lr_runs


def _vals(recs, key):
  """Per-seed values of a final metric; diverged runs give nan (counted, never averaged)."""
  return np.array(
    [
      r['metrics'].get(key) if r['status'] != 'diverged' and r['metrics'].get(key) is not None else np.nan
      for r in recs
    ],
    float,
  )


def _ratio(recs, measure):
  pre, post = _vals(recs, measure + '_pre'), _vals(recs, measure + '_post')
  ok = (pre > 0) & (post > 0)
  with np.errstate(divide='ignore', invalid='ignore'):
    r = np.where(ok, post / np.where(ok, pre, 1.0), np.nan)
  return pre, post, r, int(np.sum(~ok & np.isfinite(pre) & np.isfinite(post)))


def _spike(recs, measure: str) -> dict:
  """One measurement across the switch: before / after, per-seed ratios after/before and their geometric
  mean (non-positive values cannot enter a ratio: counted, left out)."""
  pre, post, ratio, nonpos = _ratio(recs, measure)
  out = {
    'pre': stats.describe(pre),
    'post': stats.describe(post),
    'n_nonpositive': nonpos,
    'log10_ratio': stats.describe(np.log10(ratio)) if np.isfinite(ratio).any() else None,
    'ratios': ratio.tolist(),
  }
  out['geo'] = _geo(out['log10_ratio'])
  return out


def _setup_summary(recs, config, key) -> dict:
  sw = config.switch_step
  out = {
    'label': setup_label(key),
    'n_runs': len(recs),
    'diverged': sum(r['status'] == 'diverged' for r in recs),
    'seeds': [r['seed'] for r in recs],
  }
  for m in ('legal', 'kl_exact', 'rep', 'legal_start'):
    out[m] = stats.describe(_vals(recs, m))
  out['legal_values'] = _vals(recs, 'legal').tolist()
  change = _vals(recs, 'change_step')
  has = np.isfinite(change) & (change >= 0)
  cs = change[has]
  out['change'] = {
    'n_with': int(has.sum()),
    'n': int(np.isfinite(change).sum()),
    'median_step': float(np.median(cs)) if cs.size else None,
    'steps': change.tolist(),
  }
  if key.startswith('hybrid'):
    out['change'].update(
      before_switch=int(np.sum(cs < sw)),
      at_switch=int(np.sum((cs >= sw) & (cs < sw + AT_SWITCH))),
      later=int(np.sum(cs >= sw + AT_SWITCH)),
    )
    spikes = {
      m: _spike(recs, name) for m, name in (('fresh', 'kl'), ('stale', 'stale'), ('source', 'source'))
    }
    out['spikes'] = spikes
    for m in ('stale', 'source'):
      a = np.log10(np.array(spikes[m]['ratios'], float))
      b = np.log10(np.array(spikes['fresh']['ratios'], float))
      ok = np.isfinite(a) & np.isfinite(b)
      out['spikes'][m]['vs_fresh'] = stats.compare(a, b, paired=True) if ok.sum() >= 2 else None
    ch = out['change']
    ch['phase'] = collapse_phase(ch['n_with'], ch['n'], ch)
    lp, lq = _vals(recs, 'legal_pre'), _vals(recs, 'legal_post')
    out['legal_at_switch'] = {'pre': stats.describe(lp), 'post': stats.describe(lq)}
  return out


def _comparisons(groups: dict) -> list[dict]:
  """Final legal rate: each hybrid vs the on-only run with the same on-policy loss (paired by seed)."""
  rows = []
  for key, recs in groups.items():
    if not key.startswith('hybrid'):
      continue
    parts = key.split('/')
    ref = 'on_only/' + parts[2]
    if ref not in groups:
      continue
    a, b = _vals(recs, 'legal'), _vals(groups[ref], 'legal')
    paired = [r['seed'] for r in recs] == [r['seed'] for r in groups[ref]]
    if np.isfinite(a).sum() < 1 or np.isfinite(b).sum() < 1:
      continue
    cmp = stats.compare(a, b, paired=paired)
    rows.append(
      {
        'a': key,
        'b': ref,
        'label': f'{setup_label(key)} vs {setup_label(ref)}',
        'cmp': cmp,
        'paired': paired,
        'a_values': a.tolist(),
        'b_values': b.tolist(),
        'power': _power(a, b, cmp['hedges_g'], paired),
      }
    )
  for row, p in zip(rows, stats.holm([r['cmp']['student']['p'] for r in rows])):
    row['holm_p'] = p
  return rows


def _power(a: np.ndarray, b: np.ndarray, g, paired: bool) -> dict:
  """Power of the two-sided t-test at the observed effect and the seeds 80% power needs: Student's at
  Hedges' g (seeds per group) and, when seeds pair, the paired t at d_z (pairs)."""
  fa, fb = np.isfinite(a), np.isfinite(b)
  ok = g is not None and math.isfinite(g)
  out = {
    'g': g,
    'power_g': stats.power_t(abs(g), int(fa.sum()), int(fb.sum())) if ok else None,
    'seeds_g': stats.seeds_for_power(g) if ok else None,
    'dz': None,
    'power_dz': None,
    'seeds_dz': None,
  }
  d = (a - b)[fa & fb]
  if paired and d.size >= 2 and np.std(d, ddof=1) > 0:
    dz = float(d.mean() / np.std(d, ddof=1))
    out.update(dz=dz, power_dz=stats.power_t(abs(dz), int(d.size)), seeds_dz=stats.seeds_for_power(dz, True))
  return out


def _spike_setups(summ: dict) -> list[str]:
  """The hybrids whose switch measurements the report tests: the correct one and the source's (the values
  before the first on-policy update depend only on the SFT loss, so the other hybrids repeat them)."""
  shown = [k for k in (CORRECT_SETUP, SOURCE_SETUP) if k in summ and 'spikes' in summ[k]]
  return shown or [k for k in summ if 'spikes' in summ[k]]


def _lr_sensitivity(arm: str, summ: dict, lr_recs: list, config) -> list[dict]:
  """The source's setup at each learning rate: the arm's own lr (its main grid) and the runs of arm
  `<arm>_lrs` (grid axis ``lr``, float32 there, matched back to config.sensitivity_lrs). Sorted by lr."""
  rows = []
  if SOURCE_SETUP in summ:
    s = summ[SOURCE_SETUP]
    rows.append(
      {
        'lr': arm_lr(config, arm),
        'main': True,
        'n_runs': s['n_runs'],
        'logged': s['spikes']['source'],
        'exact': s['spikes']['fresh'],
        'legal': s['legal'],
      }
    )
  wanted = sensitivity_lrs(config, arm)
  by_lr: dict = {}
  for r in lr_recs:
    lr = min(wanted, key=lambda x: abs(x - r['grid']['lr'])) if wanted else r['grid']['lr']
    by_lr.setdefault(lr, []).append(r)
  for lr, recs in by_lr.items():
    recs = sorted(recs, key=lambda r: r['seed'])
    rows.append(
      {
        'lr': float(lr),
        'main': False,
        'n_runs': len(recs),
        'logged': _spike(recs, 'source'),
        'exact': _spike(recs, 'kl'),
        'legal': stats.describe(_vals(recs, 'legal')),
      }
    )
  return sorted(rows, key=lambda r: r['lr'])


def analyze(runs: list[dict], config) -> dict:
  groups, lr_runs = _group(runs, config)
  pre = [r for r in runs if r['arm'] == 'pretrain']
  pretrain = (
    {
      k: stats.describe(np.array([r['metrics'].get(k, np.nan) for r in pre], float))
      for k in ('teacher_legal', 'base_null_legal', 'base_null_kl')
    }
    if pre
    else {}
  )
  arms = {}
  for arm, g in groups.items():
    summ = {k: _setup_summary(recs, config, k) for k, recs in g.items()}
    comps = _comparisons(g)
    spike_tests = [
      (k, m)
      for k in _spike_setups(summ)
      for m in ('stale', 'source')
      if summ[k]['spikes'][m]['vs_fresh'] is not None
    ]
    holm = stats.holm([summ[k]['spikes'][m]['vs_fresh']['paired']['p'] for k, m in spike_tests])
    for (k, m), p in zip(spike_tests, holm):
      summ[k]['spikes'][m]['vs_fresh_holm_p'] = p
    lr_recs = lr_runs.get(arm, [])
    arms[arm] = {
      'setups': summ,
      'comparisons': comps,
      'spike_setups': _spike_setups(summ),
      'lr_sensitivity': _lr_sensitivity(arm, summ, lr_recs, config),
    }
  claim_ratio = CLAIM['kl_after'] / CLAIM['kl_before']
  an = {
    'arms': arms,
    'pretrain': pretrain,
    'switch_step': config.switch_step,
    'num_steps': config.num_steps,
    'claim': dict(CLAIM, ratio_computed=claim_ratio),
  }
  an['findings'] = build_findings(an, config)
  an['headline'] = F.headline_of(an['findings'][0])
  return an
