"""Check builders shared by the self-modifying findings (findings.py): paired differences of two cells,
the "an effect exists" rule and its three wordings, the headline effect and its "is ten enough?" numbers."""

from __future__ import annotations

import numpy as np

from exp.analysis import findings as F
from exp.analysis import stats


def _arr(x) -> np.ndarray:
  return np.array([np.nan if v is None else v for v in (x or [])], float)


def _diff(an: dict, a: str, b: str) -> dict | None:
  """Per-seed a − b of two cells: mean, CI, values; None when a cell is missing."""
  va, vb = an['values'].get(a), an['values'].get(b)
  if va is None or vb is None:
    return None
  d = _arr(va) - _arr(vb)
  s = stats.describe(d)
  return dict(mean=s['mean'], ci95=s['ci95'], values=list(d))


def exists(e: dict | None, m: float) -> bool | None:
  if not e:
    return None
  ci = e.get('ci95') or [None, None]
  if F.all_of(F.above(ci, 0.0), F.compare(e.get('mean'), '>=', m)):
    return True
  if F.within(ci, -m, m) or F.below(ci, 0.0):
    return False
  return None


def effect_check(name, statement, e, m, what, claimed=None, role='claim') -> dict:
  e = e or {}
  nums = {'mean': e.get('mean'), 'ci': e.get('ci95') or [None, None], 'm': m}
  return F.check(
    name,
    statement,
    nums,
    exists(e, m),
    yes=f'{what}: {{mean}} points {{ci}}, above 0 and at least {{m}}',
    no=f'{what}: {{mean}} points {{ci}}, no effect of {{m}} points or more',
    unsure=f'{what}: {{mean}} points {{ci}}, undecided against 0 and ±{{m}}',
    role=role,
    claimed=claimed,
  )


def _seeds(e: dict | None) -> dict | None:
  if not e or not e.get('values'):
    return None
  v = _arr(e['values'])
  return stats.seed_sufficiency(v, np.zeros_like(v), paired=True)


def _effect(name: str, e: dict | None) -> dict | None:
  return None if not e else {'name': name, 'value': e.get('mean'), 'ci95': e.get('ci95')}
