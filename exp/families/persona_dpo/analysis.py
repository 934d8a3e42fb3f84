"""Statistics of the persona_dpo family (host side, numpy/scipy/statsmodels).

``analyze(runs, config)`` returns ``{'orders', 'per_order', 'claim_rows', 'order_rows', 'rm_anova',
'pretrain', 'claim', 'findings', 'headline'}``:

- ``per_order[order][metric]``: per snapshot k (0 = the base, k = after the order's k-th slot) the
  per-seed values and their ``stats.describe``; ``final`` is the snapshot after the order's last phase.
- ``claim_rows``: the write-up's comparisons on the claimed order, paired by seed (base and trained model
  share a seed): alignment and high-alignment rate (base with SYS → trained without SYS), break rate on IGN
  prompts (base SYS + IGN → trained IGN without SYS), neutral-text NLL and diversity; ``stats.compare``
  (Student, Welch, Mann–Whitney, paired t, Hedges' g, g_av) with Holm over the rows. ``survive`` is a
  one-sample summary of the trained model's rate.
- ``order_rows``: the claimed order against each other order at its end, per metric, paired, Holm over
  the rows of each pair.
- ``rm_anova``: repeated-measures ANOVA (statsmodels AnovaRM, subject = seed, within = snapshot) of each
  metric over the claimed order's four evaluations.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from statsmodels.stats.anova import AnovaRM

from exp.analysis import findings as F
from exp.analysis import stats
from exp.families.persona_dpo.common import CLAIM, EVAL_METRICS, final_snapshot, order_names
from exp.families.persona_dpo.findings import build_findings

# The write-up's comparisons: (row name, metric at the base, metric after training, claimed before, after).
CLAIM_ROWS = (
  ('alignment', 'align_sys', 'align_nosys', 'alignment_before', 'alignment_after'),
  ('high-alignment rate', 'high_sys', 'high_nosys', 'high_before', 'high_after'),
  ('break rate (IGN)', 'break_ign_sys', 'break_ign', 'break_before', 'break_after'),
  ('neutral-text NLL', 'nll_neutral', 'nll_neutral', None, None),
  ('diversity (no SYS)', 'div_nosys', 'div_nosys', None, None),
)
ORDER_METRICS = ('align_nosys', 'high_nosys', 'break_ign', 'survive', 'nll_neutral')


def _values(recs, key) -> np.ndarray:
  """Per-seed values of a final metric; runs that are not ok (diverged) give nan, never averaged."""
  out = []
  for r in recs:
    v = r['metrics'].get(key) if r['status'] == 'ok' else None
    out.append(np.nan if v is None else float(v))
  return np.array(out, float)


def _group(runs, config) -> dict:
  """{order name: [pipeline records sorted by seed]} in config order."""
  names = order_names(config)
  out = {n: [] for n in names}
  for r in runs:
    if r['arm'] == 'pipeline':
      out[names[int(round(r['grid']['order']))]].append(r)
  return {n: sorted(v, key=lambda r: r['seed']) for n, v in out.items() if v}


def _per_order(groups: dict) -> dict:
  out = {}
  for order, recs in groups.items():
    fin = final_snapshot(order)
    per = {
      'final': fin,
      'seeds': [r['seed'] for r in recs],
      'n_not_ok': sum(r['status'] != 'ok' for r in recs),
    }
    for m in EVAL_METRICS:
      vals = [_values(recs, f'{m}_{k}') for k in range(4) if f'{m}_{k}' in recs[0]['metrics']]
      per[m] = {'values': [v.tolist() for v in vals], 'describe': [stats.describe(v) for v in vals]}
    out[order] = per
  return out


def _cmp(a, b) -> dict | None:
  """stats.compare(a, b, paired=True), or None when a side has no finite pair."""
  keep = np.isfinite(a) & np.isfinite(b)
  if keep.sum() < 1:
    return None
  return stats.compare(a, b, paired=True)


def _holm_into(rows: list) -> None:
  ps = [r['cmp']['paired']['p'] if r['cmp'] else math.nan for r in rows]
  for r, p in zip(rows, stats.holm(ps)):
    r['holm_p'] = None if not math.isfinite(p) else float(p)


def _claim_rows(groups: dict) -> list:
  recs = groups.get('claimed')
  if not recs:
    return []
  fin = final_snapshot('claimed')
  rows = []
  for name, before, after, c_before, c_after in CLAIM_ROWS:
    base, trained = _values(recs, f'{before}_0'), _values(recs, f'{after}_{fin}')
    rows.append(
      {
        'name': name,
        'before': before,
        'after': after,
        'base': stats.describe(base),
        'trained': stats.describe(trained),
        'cmp': _cmp(trained, base),
        'claimed': [CLAIM[c_before], CLAIM[c_after]] if c_before else None,
        'trained_values': trained.tolist(),
        'base_values': base.tolist(),
      }
    )
  _holm_into(rows)
  return rows


def _order_rows(groups: dict) -> dict:
  out = {}
  ref = groups.get('claimed')
  if not ref:
    return out
  for other, recs in groups.items():
    if other == 'claimed':
      continue
    rows = []
    for m in ORDER_METRICS:
      a = _values(ref, f'{m}_{final_snapshot("claimed")}')
      b = _values(recs, f'{m}_{final_snapshot(other)}')
      rows.append({'metric': m, 'claimed': stats.describe(a), 'other': stats.describe(b), 'cmp': _cmp(a, b)})
    _holm_into(rows)
    out[other] = rows
  return out


def rm_anova(values: list) -> dict:
  """Repeated-measures ANOVA over snapshots: values[k] = per-seed values at snapshot k. Seeds with a
  missing value are dropped (AnovaRM needs a balanced design). {'F', 'df_num', 'df_den', 'p', 'n'}; nan
  with a 'note' when undefined (fewer than 2 seeds, or no variation within seeds)."""
  arr = np.array(values, float).T  # (seeds, snapshots)
  arr = arr[np.all(np.isfinite(arr), axis=1)]
  out = {'F': math.nan, 'df_num': math.nan, 'df_den': math.nan, 'p': math.nan, 'n': int(arr.shape[0])}
  resid = arr - arr.mean(axis=1, keepdims=True) - arr.mean(axis=0, keepdims=True) + arr.mean()
  if arr.shape[0] < 2 or arr.shape[1] < 2 or not np.any(np.abs(resid) > 1e-12):
    out['note'] = 'undefined: fewer than 2 complete seeds or no residual variation'
    return out
  df = pd.DataFrame(
    [{'seed': s, 'phase': k, 'value': arr[s, k]} for s in range(arr.shape[0]) for k in range(arr.shape[1])]
  )
  t = AnovaRM(df, 'value', 'seed', within=['phase']).fit().anova_table.iloc[0]
  out.update(
    F=float(t['F Value']), df_num=float(t['Num DF']), df_den=float(t['Den DF']), p=float(t['Pr > F'])
  )
  return out


def analyze(runs: list, config) -> dict:
  groups = _group(runs, config)
  per_order = _per_order(groups)
  claim_rows = _claim_rows(groups)
  an = {
    'orders': list(groups),
    'per_order': per_order,
    'claim_rows': claim_rows,
    'order_rows': _order_rows(groups),
    'rm_anova': {m: rm_anova(per_order['claimed'][m]['values']) for m in EVAL_METRICS}
    if 'claimed' in per_order
    else {},
    'pretrain': [r['metrics'] for r in sorted(runs, key=lambda r: r['seed']) if r['arm'] == 'pretrain'],
    'claim': dict(CLAIM),
  }
  if 'claimed' in per_order:
    fin = final_snapshot('claimed')
    surv = _values(groups['claimed'], f'survive_{fin}')
    an['survive'] = stats.describe(surv)
    head = claim_rows[0]
    an['seeds'] = stats.seed_sufficiency(head['trained_values'], head['base_values'], paired=True)
  an['findings'] = build_findings(an, config)
  an['headline'] = F.headline_of(an['findings'][0])
  return an
