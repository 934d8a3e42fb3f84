"""Number formatting for the report's tables."""

from __future__ import annotations

import numpy as np

from exp.analysis import report


def ms(d) -> str:
  """mean ± SD (the write-up's '±')."""
  if not d or d.get('mean') is None:
    return '–'
  m, s = report.fmt_same([d['mean'], d['sd']])
  return f'{m} ± {s}'


def ci(ci) -> str:
  if not ci or ci[0] is None:
    return '–'
  a, b = report.fmt_same(list(ci))
  return f'[{a}, {b}]'


def mean_half(d) -> str:
  if not d or d.get('mean') is None:
    return '–'
  lo, hi = d['ci95']
  if lo is None or hi is None or not np.isfinite(lo):
    return report.fmt(d['mean'])
  m, h = report.fmt_same([d['mean'], (hi - lo) / 2])
  return f'{m} ± {h}'


def est(g, ci) -> str:
  if g is None or ci is None:
    return '–'
  a, b, c = report.fmt_same([g, ci[0], ci[1]])
  return f'{a} [{b}, {c}]'
