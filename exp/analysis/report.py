"""Markdown tables and one-sentence verdicts for every family's report.md.

Inputs are the plain dicts of `exp.stats` (``describe``, ``compare``), possibly after a JSON round trip, so
any number may be ``nan`` or ``None``; those render as "–" and never raise. Only the documented keys of
those dicts are read; nothing here depends on how `exp.stats` computes them.

Typography: missing values are an en dash "–", negative numbers use the minus sign "−" (U+2212), p-values
below 0.001 read "<0.001".
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
  'MISSING',
  'fmt_ci',
  'fmt',
  'fmt_p',
  'fmt_count',
  'fmt_same',
  'markdown_table',
  'group_table',
  'comparison_table',
  'holm_adjust',
  'effect_size_word',
  'verdict',
]

MISSING = '–'  # en dash: rendered for None / nan / anything that is not a number
MINUS = '−'  # U+2212

_SCI_HIGH = 1e6  # at or above: scientific notation
_SCI_LOW = 1e-4  # below (and non-zero): scientific notation


# ---------------------------------------------------------------------------------------------------------
# Numbers


def _num(x: Any) -> float:
  """`x` as a float, or nan for None, non-numbers and strings."""
  if x is None or isinstance(x, (str, bytes, bool)):
    return math.nan
  try:
    return float(x)
  except (TypeError, ValueError):
    return math.nan


def _finite(x: Any) -> bool:
  return math.isfinite(_num(x))


def _minus(s: str) -> str:
  return s.replace('-', MINUS) if s.startswith('-') or 'e-' in s else s


def fmt(x: Any, digits: int = 3, *, p: bool = False) -> str:
  """Format one number for a table.

  - None, nan, non-numbers → "–"; ±inf → "∞" / "−∞"; strings are returned unchanged.
  - ints (Python or numpy integers) → the integer, e.g. ``10``; floats are never shown as ints (counts
    stored as floats go through `fmt_count`).
  - floats → ``digits`` significant figures, keeping trailing zeros (``3.60``, ``2.00``); numbers whose
    integer part already has ``digits`` or more figures are rounded to an integer (``12346``), in plain
    notation below 1e6; scientific notation at ≥ 1e6 or below 1e-4 (``1.23e+06``).
  - ``p=True``: a p-value → "<0.001" below 1e-3, else 3 decimals (``0.032``, ``1.000``).
  """
  if isinstance(x, str):
    return x
  if isinstance(x, bool):
    return 'yes' if x else 'no'
  if isinstance(x, numbers.Integral) and not p:
    return _minus(str(int(x)))
  v = _num(x)
  if math.isnan(v):
    return MISSING
  if math.isinf(v):
    return '∞' if v > 0 else MINUS + '∞'
  if p:
    return '<0.001' if v < 1e-3 else f'{v:.3f}'
  digits = max(1, int(digits))
  a = abs(v)
  if a == 0:
    return '0'
  if a >= _SCI_HIGH or a < _SCI_LOW:
    return _minus(f'{v:.{digits - 1}e}')
  # Round to significant figures first, then read the exponent off the rounded value (9.996 → 10.0).
  r = float(f'{v:.{digits - 1}e}')
  if r == 0:
    return '0'
  exponent = math.floor(math.log10(abs(r)))
  decimals = max(0, digits - 1 - exponent)
  s = f'{(r if decimals else v):.{decimals}f}'
  if float(s) == 0:
    s = s.lstrip('-')
  return _minus(s)


def fmt_same(values: Sequence[Any], digits: int = 3) -> list[str]:
  """Format numbers that are read together (an estimate and its CI, a mean ± half-width) with one
  number of decimals: the one `fmt` gives the largest magnitude among them (``−127 [−156, −98]``,
  ``0.52 [−0.37, 1.41]``). Missing values → "–"; falls back to `fmt` each when scientific notation or
  an integer type is involved."""
  vals = [_num(v) for v in values]
  finite = [abs(v) for v in vals if math.isfinite(v)]
  if (
    not finite
    or any(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values)
    or max(finite) >= _SCI_HIGH
    or max(finite) < _SCI_LOW
  ):
    return [fmt(v, digits) for v in values]
  ref = fmt(max(finite), digits)
  decimals = len(ref.split('.')[1]) if '.' in ref else 0
  out = []
  for v in vals:
    if not math.isfinite(v):
      out.append(fmt(v))
      continue
    s = f'{v:.{decimals}f}'
    if float(s) == 0:
      s = s.lstrip('-')
    out.append(_minus(s))
  return out


def fmt_p(x: Any) -> str:
  """Format a p-value: "<0.001" below 1e-3, else 3 decimals; None/nan → "–"."""
  return fmt(x, p=True)


def fmt_count(x: Any) -> str:
  """A count or degrees of freedom: an integer when it is one (10.0 → "10"), else 1 decimal."""
  v = _num(x)
  if not math.isfinite(v):
    return MISSING
  if abs(v - round(v)) < 1e-9:
    return _minus(str(int(round(v))))
  return _minus(f'{v:.1f}')


def fmt_ci(est: Any, ci: Any) -> str:
  """ "estimate [lo, hi]" with shared decimals; anything missing → "–"."""
  lo, hi = _pair(ci)
  e, a, b = fmt_same([est, lo, hi])
  return f'{e} [{a}, {b}]'


def fmt_mean_ci(d: Mapping[str, Any] | None, digits: int = 3) -> str:
  """A `stats.describe` dict as "mean ± 95% CI half-width" with shared decimals (``0.52 ± 0.10``); the
  mean alone when its CI is missing or not finite; "–" without a finite mean."""
  if not d or not _finite(d.get('mean')):
    return MISSING
  lo, hi = _pair(d.get('ci95'))
  if not (math.isfinite(lo) and math.isfinite(hi)):
    return fmt(d['mean'], digits)
  m, h = fmt_same([d['mean'], (hi - lo) / 2], digits)
  return f'{m} ± {h}'


def _pair(ci: Any) -> tuple[float, float]:
  if isinstance(ci, (list, tuple)) and len(ci) == 2:
    return _num(ci[0]), _num(ci[1])
  try:
    import numpy as np  # only for array-valued CIs

    arr = np.asarray(ci, dtype=float).ravel()
    if arr.size == 2:
      return float(arr[0]), float(arr[1])
  except (TypeError, ValueError):
    pass
  return math.nan, math.nan


def _get(d: Any, *keys: str) -> Any:
  """Nested lookup that yields None for anything absent (``_get(cmp, "student", "p")``)."""
  for k in keys:
    if not isinstance(d, Mapping):
      return None
    d = d.get(k)
  return d


# ---------------------------------------------------------------------------------------------------------
# Tables


def _cell(x: Any) -> str:
  s = fmt(x) if not isinstance(x, str) else x
  return s.replace('\r', ' ').replace('\n', ' ').replace('|', '\\|')


def markdown_table(
  header: Sequence[str], rows: Sequence[Sequence[Any]], align: Sequence[str] | None = None
) -> str:
  """A GitHub-flavoured markdown table.

  header: column names; rows: sequences of the same length (non-str cells go through `fmt`; "|" and
  newlines inside cells are escaped). align: per column "l", "r" or "c"; default first column left, the
  rest right. Returns the table as lines joined by "\\n", with no trailing newline.
  """
  header = [str(h) for h in header]
  ncol = len(header)
  if ncol == 0:
    raise ValueError('markdown_table: header is empty')
  if align is None:
    align = ['l'] + ['r'] * (ncol - 1)
  if len(align) != ncol:
    raise ValueError(f'markdown_table: {len(align)} alignments for {ncol} columns')
  rule = {'l': ':---', 'r': '---:', 'c': ':---:'}
  lines = [
    '| ' + ' | '.join(_cell(h) for h in header) + ' |',
    '|' + '|'.join(rule.get(a, '---') for a in align) + '|',
  ]
  for i, row in enumerate(rows):
    row = list(row)
    if len(row) != ncol:
      raise ValueError(f'markdown_table: row {i} has {len(row)} cells, the header has {ncol}')
    lines.append('| ' + ' | '.join(_cell(c) for c in row) + ' |')
  return '\n'.join(lines)


GROUP_HEADER = ('group', 'n', 'mean ± 95% CI half-width', '[CI lo, hi]', 'SD', 'median')


def group_table(rows: Sequence[tuple[str, Mapping[str, Any] | None]]) -> str:
  """Per-group descriptive table.

  rows: ``(label, describe_dict)`` pairs, describe_dict as from ``exp.stats.describe`` (keys n,
  n_dropped, mean, sd, sem, median, ci95). Columns: group | n | mean ± 95% CI half-width | [CI lo, hi] |
  SD | median. n reads "8 (2 dropped)" when values were dropped. Returns markdown text.
  """
  out = []
  for label, d in rows:
    d = d if isinstance(d, Mapping) else {}
    n = fmt_count(d.get('n'))
    dropped = _num(d.get('n_dropped'))
    if math.isfinite(dropped) and dropped > 0:
      n = f'{n} ({fmt_count(dropped)} dropped)'
    lo, hi = _pair(d.get('ci95'))
    half = (hi - lo) / 2 if math.isfinite(lo) and math.isfinite(hi) else math.nan
    m, h, a, b = fmt_same([d.get('mean'), half, lo, hi])
    out.append([str(label), n, f'{m} ± {h}', f'[{a}, {b}]', fmt(d.get('sd')), fmt(d.get('median'))])
  return markdown_table(GROUP_HEADER, out)


def holm_adjust(pvalues: Sequence[Any]) -> list[float]:
  """Holm–Bonferroni adjusted p-values in the input order (``exp.stats.holm``); None counts as missing:
  it stays nan and does not count towards the family size."""
  from exp.analysis import stats  # numpy/scipy only; imported here to keep report light to import

  return stats.holm([_num(x) for x in pvalues])


COMPARISON_HEADER = (
  'comparison',
  'Δ mean [95% CI]',
  'Student t (df)',
  'p',
  'Holm p',
  'Welch p',
  'Mann–Whitney p',
  "Hedges' g [95% CI]",
)


def comparison_table(
  rows: Sequence[tuple[str, Mapping[str, Any] | None]], holm: bool | Sequence[Any] = True
) -> str:
  """Two-sample comparison table for one finding.

  rows: ``(label, compare_dict)`` pairs, compare_dict as from ``exp.stats.compare`` (mean_diff,
  mean_diff_ci95, student{t,df,p}, welch{p}, mann_whitney{p}, hedges_g, hedges_g_ci95, optional
  paired{t,df,p} and note). Columns: comparison | Δ mean [95% CI] | Student t (df) | p | Holm p | Welch p |
  Mann–Whitney p | Hedges' g [95% CI]; a "paired p" column is added after Welch p when any row has a
  paired test. holm: True → Holm over the rows' Student p computed here; False → no Holm column; a
  sequence → those adjusted p-values as given (e.g. when the finding's family spans several tables).
  Rows with a "note" get a [k] marker and the notes are listed under the table. Returns markdown text.
  """
  rows = [(str(label), c if isinstance(c, Mapping) else {}) for label, c in rows]
  if holm is True:
    holm_p: list[Any] | None = holm_adjust([_get(c, 'student', 'p') for _, c in rows])
  elif holm is False or holm is None:
    holm_p = None
  else:
    holm_p = list(holm)
    if len(holm_p) != len(rows):
      raise ValueError(f'comparison_table: {len(holm_p)} Holm p-values for {len(rows)} rows')
  has_paired = any(isinstance(c.get('paired'), Mapping) for _, c in rows)

  header = list(COMPARISON_HEADER)
  if holm_p is None:
    header.remove('Holm p')
  if has_paired:
    header.insert(header.index('Welch p') + 1, 'paired p')

  out, notes = [], []
  for i, (label, c) in enumerate(rows):
    note = c.get('note')
    if note:
      notes.append(str(note))
      label = f'{label} [{len(notes)}]'
    t, df = _get(c, 'student', 't'), _get(c, 'student', 'df')
    cells = {
      'comparison': label,
      'Δ mean [95% CI]': fmt_ci(c.get('mean_diff'), c.get('mean_diff_ci95')),
      'Student t (df)': f'{fmt(t)} ({fmt_count(df)})',
      'p': fmt_p(_get(c, 'student', 'p')),
      'Holm p': fmt_p(holm_p[i]) if holm_p is not None else '',
      'Welch p': fmt_p(_get(c, 'welch', 'p')),
      'paired p': fmt_p(_get(c, 'paired', 'p')),
      'Mann–Whitney p': fmt_p(_get(c, 'mann_whitney', 'p')),
      "Hedges' g [95% CI]": fmt_ci(c.get('hedges_g'), c.get('hedges_g_ci95')),
    }
    out.append([cells[h] for h in header])
  text = markdown_table(header, out)
  if notes:
    text += '\n\n' + '\n'.join(f'[{k}] {n}' for k, n in enumerate(notes, 1))
  return text


# ---------------------------------------------------------------------------------------------------------
# Verdicts


def effect_size_word(g: Any) -> str:
  """Cohen's words for |g|: negligible < 0.2 ≤ small < 0.5 ≤ medium < 0.8 ≤ large; "undetermined" for nan."""
  v = abs(_num(g))
  if math.isnan(v):
    return 'undetermined'
  if v < 0.2:
    return 'negligible'
  if v < 0.5:
    return 'small'
  if v < 0.8:
    return 'medium'
  return 'large'


def _p_phrase(p: Any) -> str:
  s = fmt_p(p)
  if s == MISSING:
    return f'p = {MISSING}'
  return 'p < 0.001' if s.startswith('<') else f'p = {s}'


def _range(lo: float, hi: float, est: float) -> str:
  """ "98–156" for a positive interval, "−2 to 12" when a bound is negative (a dash would read as minus);
  decimals shared with the estimate."""
  if not (math.isfinite(lo) and math.isfinite(hi)):
    return MISSING
  lo, hi = min(lo, hi), max(lo, hi)
  _, a, b = fmt_same([est, lo, hi])
  return f'{a} to {b}' if lo < 0 else f'{a}–{b}'


def verdict(
  label: str,
  cmp: Mapping[str, Any] | None,
  alpha: float = 0.05,
  holm_p: Any = None,
  names: tuple[str, str] | None = None,
) -> str:
  """One sentence that reads a comparison's numbers, e.g.

  "SL vs RL-EoE: SL lower by 127 (95% CI 98–156); Student t(18) = −9.10, p < 0.001 (Holm p < 0.001);
  Hedges' g = −3.90 [−5.40, −2.40]: large, significant."

  cmp is an ``exp.stats.compare`` dict (difference = a − b). The group names come from `names`, else from
  splitting `label` at " vs ", else "A"/"B". Significance is the p of the test whose CI is shown (the
  paired t when cmp has "paired", else Student) < alpha, or Holm p < alpha when `holm_p` is given (a result significant only before correction says so). Effect words by |g|:
  negligible < 0.2, small < 0.5, medium < 0.8, large. A nan p reads "not testable"; a "note" in cmp is
  appended. Never raises on missing values.
  """
  c = cmp if isinstance(cmp, Mapping) else {}
  label = str(label)
  if names is None:
    parts = label.split(' vs ', 1)
    names = (parts[0].strip(), parts[1].strip()) if len(parts) == 2 else ('A', 'B')
  a_name, _ = names

  d = _num(c.get('mean_diff'))
  lo, hi = _pair(c.get('mean_diff_ci95'))
  if math.isnan(d):
    diff = f'difference {MISSING}'
  elif d == 0:
    diff = f'no difference in means (95% CI {_range(lo, hi, 0.0)})'
  else:
    word = 'higher' if d > 0 else 'lower'
    s = 1.0 if d > 0 else -1.0  # CI of the magnitude in the stated direction
    diff = f'{a_name} {word} by {fmt_same([abs(d), lo, hi])[0]} (95% CI {_range(s * lo, s * hi, d)})'

  # Significance is decided on the test whose CI is shown: a paired compare's mean_diff_ci95 is the
  # paired-t CI, so its sentence quotes the paired t, never Student's unpaired p beside a paired CI.
  test_key, test_name = (
    ('paired', 'paired t') if isinstance(c.get('paired'), Mapping) else ('student', 'Student t')
  )
  t, df, p = _get(c, test_key, 't'), _get(c, test_key, 'df'), _num(_get(c, test_key, 'p'))
  test = f'{test_name}({fmt_count(df)}) = {fmt(t)}, {_p_phrase(p)}'
  hp = _num(holm_p) if holm_p is not None else None
  if hp is not None:
    test += f' (Holm {_p_phrase(hp)})'

  g = c.get('hedges_g')
  effect = f"Hedges' g = {fmt_ci(g, c.get('hedges_g_ci95'))}"
  size = effect_size_word(g)
  size = 'effect size undetermined' if size == 'undetermined' else size

  decide = hp if hp is not None else p
  if math.isnan(p) or (hp is not None and math.isnan(hp)):
    sig = 'not testable'
  elif decide < alpha:
    sig = 'significant'
  elif hp is not None and p < alpha:
    sig = f'not significant after Holm correction (uncorrected {_p_phrase(p)})'
  else:
    sig = 'not significant'
  if alpha != 0.05 and sig != 'not testable':
    sig += f' at α = {alpha:g}'

  sentence = f'{label}: {diff}; {test}; {effect}: {size}, {sig}.'
  note = c.get('note')
  if note:
    sentence += f' Note: {str(note).rstrip(".")}.'
  return sentence


# ---------------------------------------------------------------------------------------------------------
# The report skeleton every family uses


def seeds_table(findings: Sequence[Mapping[str, Any]]) -> str:
  """ "Is ten enough?" for each finding's headline effect: the effect, seeds, power at the observed effect,
  seeds needed for 80% power and the CI half-width with 3, 5 and all seeds."""
  rows = []
  for f in findings:
    s = f.get('seeds')
    if not isinstance(s, Mapping):
      continue
    hw = s.get('halfwidth_by_k') or {}
    by_k = dict(zip(hw.get('k', []), hw.get('halfwidth', [])))
    n = hw.get('n')
    word = {True: 'yes', False: 'no', None: MISSING}[s.get('suffices')]
    rows.append(
      [
        f.get('title', f.get('name', '')),
        ('d_z ' if s.get('paired') else 'g ') + fmt(s.get('effect')),
        fmt_count(s.get('n_a')),
        fmt(s.get('power')),
        fmt_count(s.get('seeds_for_80')),
        fmt(by_k.get(3)),
        fmt(by_k.get(5)),
        fmt(by_k.get(n)),
        word,
      ]
    )
  if not rows:
    return ''
  header = [
    'finding (headline effect)',
    'effect',
    'seeds',
    'power at this effect',
    'seeds for 80% power',
    'CI half-width, 3 seeds',
    '5 seeds',
    'all seeds',
    'enough seeds',
  ]
  return markdown_table(header, rows)


def render_report(
  title: str,
  setup: str,
  tables: Sequence[tuple[str, str]],
  findings: Sequence[Mapping[str, Any]],
  plots: Sequence[str] = (),
  notes: Sequence[str] = (),
) -> str:
  """Every family's report.md, in one order and format: title, setup (method prose), tables (heading,
  markdown), findings (claim, checks with outcomes, status, audit checks), "Is ten enough?", notes
  (method remarks, never conclusions), plots (file names under plots/)."""
  from exp.analysis import findings as F  # findings imports this module's formatters

  lines = [f'# {title}', '', setup.strip(), '']
  for heading, body in tables:
    if body:
      lines += [f'## {heading}', '', body.strip(), '']
  if findings:
    lines += ['## Findings', '']
    lines += [F.render_finding(f) for f in findings]
  table = seeds_table(findings)
  if table:
    lines += [
      '## Is ten enough?',
      '',
      'Power of the two-sided t-test at the observed effect (noncentral t), the seeds that 80% power '
      'would need, and the mean 95% CI half-width of the effect when only k seeds are used (random '
      'subsets without replacement).',
      '',
      table,
      '',
    ]
  if notes:
    lines += ['## Notes', ''] + [f'- {n}' for n in notes] + ['']
  if plots:
    lines += ['## Plots', ''] + [f'![{os.path.basename(p)}](plots/{os.path.basename(p)})' for p in plots]
    lines.append('')
  return '\n'.join(lines)
