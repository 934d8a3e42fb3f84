"""Findings: conclusions as data, so that a report cannot say what its numbers do not.

- A **claim** is a write-up's statement and its published numbers. Those numbers are comparison targets,
  never results.
- A **check** is one statement about our runs: a predicate over named numbers from the analysis that gives
  True, False or None (inconclusive: a CI that straddles the bound, a number that is missing). It carries
  one wording per outcome; every wording shows every one of its numbers (enforced when the check is made),
  so the sentence printed is always the one whose outcome the numbers give.
- A **finding** is a claim and its checks, with a status from one rule (`status_of`); audit checks are
  checks too, kept beside the claim's checks but outside the status.

Everything here is plain data (dicts of JSON types) once made, so results.json stores findings as they
are, and the report, the headline and the dashboard render them without recomputing anything.

Writing a check::

    check('sl_flat', 'SL needs the same number of episodes at every N',
          {'exponent': 0.02, 'ci': [-0.03, 0.08], 'bound': 0.15},
          outcome=within(ci, -0.15, 0.15),
          yes='SL is flat in N: exponent {exponent} {ci} lies inside ±{bound}',
          no='SL is not flat in N: exponent {exponent} {ci} lies outside ±{bound}',
          unsure='SL flat in N is undecided: exponent {exponent} {ci} straddles ±{bound}')
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence
from typing import Any

from exp.analysis.report import MINUS, MISSING, fmt, fmt_p, fmt_same

STATUSES = ('reproduced', 'partly', 'not reproduced', 'inconclusive')
STATUS_RULE = (
  'reproduced: every check of the claim holds; partly: some hold and some fail; not reproduced: at least '
  'one fails and none holds; inconclusive: none fails and not all hold (a CI straddles a bound, or a number '
  'is missing)'
)
OUTCOME_WORD = {True: 'yes', False: 'no', None: 'inconclusive'}


# ---------------------------------------------------------------------------------------------------------
# Predicates: True / False / None from numbers (None for missing or non-finite inputs)


def _finite(*xs: Any) -> bool:
  try:
    return all(x is not None and math.isfinite(float(x)) for x in xs)
  except (TypeError, ValueError):
    return False


def above(ci: Sequence[Any] | None, bound: float) -> bool | None:
  """True when the whole CI lies above ``bound``, False when it lies at or below it, else None."""
  if ci is None or not _finite(*ci):
    return None
  lo, hi = float(ci[0]), float(ci[1])
  if lo > bound:
    return True
  if hi <= bound:
    return False
  return None


def below(ci: Sequence[Any] | None, bound: float) -> bool | None:
  """True when the whole CI lies below ``bound``, False when it lies at or above it, else None."""
  if ci is None or not _finite(*ci):
    return None
  lo, hi = float(ci[0]), float(ci[1])
  if hi < bound:
    return True
  if lo >= bound:
    return False
  return None


def within(ci: Sequence[Any] | None, low: float, high: float) -> bool | None:
  """True when the CI lies inside [low, high], False when it lies wholly outside, else None."""
  if ci is None or not _finite(*ci):
    return None
  lo, hi = float(ci[0]), float(ci[1])
  if low <= lo and hi <= high:
    return True
  if hi < low or lo > high:
    return False
  return None


def significant(p: Any, alpha: float = 0.05) -> bool | None:
  """p < alpha; None when p is missing."""
  return (float(p) < alpha) if _finite(p) else None


def compare(x: Any, op: str, bound: Any) -> bool | None:
  """A point comparison ('<', '<=', '>', '>=', '==') of two numbers; None when either is missing."""
  if not _finite(x, bound):
    return None
  x, bound = float(x), float(bound)
  return {'<': x < bound, '<=': x <= bound, '>': x > bound, '>=': x >= bound, '==': x == bound}[op]


def all_of(*outcomes: bool | None) -> bool | None:
  """Three-valued AND: False if any is False, None if any is None, else True."""
  if any(o is False for o in outcomes):
    return False
  if any(o is None for o in outcomes):
    return None
  return True


def any_of(*outcomes: bool | None) -> bool | None:
  """Three-valued OR: True if any is True, None if any is None, else False."""
  if any(o is True for o in outcomes):
    return True
  if any(o is None for o in outcomes):
    return None
  return False


def negate(outcome: bool | None) -> bool | None:
  return None if outcome is None else not outcome


# ---------------------------------------------------------------------------------------------------------
# Rendering numbers


def render_number(value: Any, kind: str | None = None) -> str:
  """One named number as text: a [lo, hi] pair as "[lo, hi]", a p-value (kind 'p') as fmt_p, a count as
  an integer, anything else through report.fmt. Missing values render as "–"."""
  if kind == 'p':
    return fmt_p(value)
  if isinstance(value, (list, tuple)):
    if len(value) == 2:
      lo, hi = fmt_same(list(value))
      # shared decimals lose a small end of a wide interval ([0.0208, 31.6] -> "0.0"): then each alone
      if any(
        _finite(v) and float(v) != 0 and float(t.replace(MINUS, '-')) == 0 for v, t in zip(value, (lo, hi))
      ):
        lo, hi = fmt(value[0]), fmt(value[1])
      return f'[{lo}, {hi}]'
    return ', '.join(render_number(v) for v in value)
  if isinstance(value, str):
    return value
  if value is None:
    return MISSING
  return fmt(value)


def _fields(template: str) -> set[str]:
  return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _render(template: str, numbers: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
  return template.format(**{k: render_number(v, kinds.get(k)) for k, v in numbers.items()})


# ---------------------------------------------------------------------------------------------------------
# Claims, checks, findings


def claim(statement: str, numbers: Mapping[str, Any] | None = None, source: str = '') -> dict:
  """A write-up's statement and its published numbers (comparison targets only)."""
  return {'statement': statement, 'numbers': dict(numbers or {}), 'source': source}


def check(
  name: str,
  statement: str,
  numbers: Mapping[str, Any],
  outcome: bool | None,
  *,
  yes: str,
  no: str,
  unsure: str,
  kinds: Mapping[str, str] | None = None,
  role: str = 'claim',
  claimed: Any = None,
) -> dict:
  """One check, evaluated and rendered.

  Args:
    name: a short id, unique within its finding.
    statement: what is being checked, in words (shown with the outcome).
    numbers: the named numbers the outcome was computed from; each wording must show every one of them.
    outcome: the predicate's value on ``numbers`` (True, False, or None when inconclusive).
    yes, no, unsure: the wording for each outcome, ``str.format`` templates over ``numbers``.
    kinds: optional {name: 'p'} to render a number as a p-value.
    role: 'claim' (enters the finding's status) or 'audit'.
    claimed: the write-up's number for the same quantity, shown beside ours (None if it gave none).

  Raises:
    ValueError: a wording that leaves out one of the numbers or names one that is not given, or an
      outcome that is not True / False / None.
  """
  if outcome not in (True, False, None):
    raise ValueError(f'check {name!r}: outcome must be True, False or None, got {outcome!r}')
  if role not in ('claim', 'audit'):
    raise ValueError(f"check {name!r}: role must be 'claim' or 'audit', got {role!r}")
  kinds = dict(kinds or {})
  templates = {True: yes, False: no, None: unsure}
  for out, template in templates.items():
    used = _fields(template)
    if used != set(numbers):
      missing, extra = sorted(set(numbers) - used), sorted(used - set(numbers))
      raise ValueError(
        f'check {name!r}, wording for outcome {OUTCOME_WORD[out]}: every number must appear exactly as '
        f'given (missing {missing}, unknown {extra})'
      )
  return {
    'name': name,
    'statement': statement,
    'role': role,
    'outcome': outcome,
    'numbers': _plain(numbers),
    'kinds': kinds,
    'claimed': _plain(claimed),
    'text': _render(templates[outcome], numbers, kinds),
    'wordings': {OUTCOME_WORD[k]: v for k, v in templates.items()},
  }


def status_of(checks: Sequence[Mapping[str, Any]]) -> str:
  """The finding's status from its claim checks (see STATUS_RULE); audit checks do not count."""
  outcomes = [c['outcome'] for c in checks if c.get('role', 'claim') == 'claim']
  n_true = sum(o is True for o in outcomes)
  n_false = sum(o is False for o in outcomes)
  if outcomes and n_true == len(outcomes):
    return 'reproduced'
  if n_true and n_false:
    return 'partly'
  if n_false:
    return 'not reproduced'
  return 'inconclusive'


def finding(
  name: str,
  title: str,
  the_claim: Mapping[str, Any],
  checks: Sequence[Mapping[str, Any]],
  *,
  effect: Mapping[str, Any] | None = None,
  seeds: Mapping[str, Any] | None = None,
) -> dict:
  """A claim with its checks and status.

  effect: the headline effect {'name', 'value', 'ci95'} for the dashboard (or None).
  seeds: "is ten enough?" numbers for the headline effect (exp.analysis.stats.seed_sufficiency).
  """
  names = [c['name'] for c in checks]
  if len(set(names)) != len(names):
    raise ValueError(f'finding {name!r}: check names repeat: {names}')
  return {
    'name': name,
    'title': title,
    'claim': dict(the_claim),
    'checks': [dict(c) for c in checks],
    'status': status_of(checks),
    'rule': STATUS_RULE,
    'effect': _plain(effect),
    'seeds': _plain(seeds),
  }


def _plain(x: Any) -> Any:
  """JSON-friendly copy: tuples to lists, numpy scalars to Python, non-finite floats to None."""
  if isinstance(x, Mapping):
    return {str(k): _plain(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_plain(v) for v in x]
  if hasattr(x, 'item') and callable(x.item) and getattr(x, 'ndim', 1) == 0:
    x = x.item()
  if isinstance(x, float) and not math.isfinite(x):
    return None
  return x


# ---------------------------------------------------------------------------------------------------------
# Markdown


STATUS_MARK = {'reproduced': '✓', 'partly': '◐', 'not reproduced': '✗', 'inconclusive': '?'}
OUTCOME_MARK = {True: '✓', False: '✗', None: '?'}


def render_finding(f: Mapping[str, Any]) -> str:
  """A finding as markdown: the claim with its numbers, each check's outcome and sentence, the status and
  the rule that gave it, then the audit checks."""
  c = f['claim']
  lines = [f'### {f["title"]}: {f["status"]} {STATUS_MARK.get(f["status"], "")}', '']
  claimed = ', '.join(f'{k} {render_number(v)}' for k, v in c.get('numbers', {}).items())
  lines.append(f'**Claim.** {c["statement"]}' + (f' ({claimed})' if claimed else '') + '')
  lines.append('')
  claim_checks = [k for k in f['checks'] if k['role'] == 'claim']
  audit_checks = [k for k in f['checks'] if k['role'] == 'audit']
  for k in claim_checks:
    beside = f' (write-up: {render_number(k["claimed"])})' if k.get('claimed') is not None else ''
    lines.append(f'- {OUTCOME_MARK[k["outcome"]]} {k["text"]}{beside}.')
  lines += ['', f'Status: **{f["status"]}** ({f["rule"]}).', '']
  if audit_checks:
    lines += ['**Audit.**', '']
    for k in audit_checks:
      lines.append(f'- {OUTCOME_MARK[k["outcome"]]} {k["text"]}.')
    lines.append('')
  return '\n'.join(lines)


def headline_of(f: Mapping[str, Any]) -> dict:
  """The dashboard's row of a finding: the claim, our checks' sentences as the result, the headline
  effect, the status, and whether the seeds sufficed for the headline effect."""
  seeds = f.get('seeds') or {}
  return {
    'finding': f['title'],
    'claim': f['claim']['statement'],
    'result': '; '.join(c['text'] for c in f['checks'] if c['role'] == 'claim'),
    'effect': f.get('effect'),
    'verdict': f['status'],
    'status': f['status'],
    'reproduced': {'reproduced': True, 'not reproduced': False}.get(f['status']),
    'seeds_suffice': seeds.get('suffices'),
    'seeds_for_80': seeds.get('seeds_for_80'),
  }
