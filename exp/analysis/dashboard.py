"""Summary dashboard across experiments: one row and one figure panel per headline finding.

    python run.py --config=configs/catalogue.py --workdir=DIR   # runs every experiment, then this
    python -m exp.analysis.dashboard --out DIR WORKDIR [WORKDIR ...]

Reads each WORKDIR/results.json (written by ``python run.py``), takes ``analysis.headline`` (a dict, or a
list of dicts for a family with several findings) and writes DIR/dashboard.md and DIR/dashboard.png, both
atomically. Every input is checked before anything is written: bad input prints one line on stderr and
exits with status 2, leaving DIR untouched.

headline keys (all rendered as "–" when absent): finding, claim, result (the headline number in words),
effect {name, value, ci95} or null, verdict, reproduced true/false/null. A results.json whose analysis has
"findings" (exp/analysis/findings.py) is read from those instead: one row per finding with the write-up's
numbers (the claim's) beside our headline effect and its 95% CI, its status (reproduced / partly / not
reproduced / inconclusive) and whether the seeds sufficed for its headline effect (power at the observed
effect, seeds 80% power needs); its section lists the claim checks' sentences, each with the write-up's
number for the same quantity where the check names one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from exp.analysis import findings as F
from exp.analysis.report import MISSING, _num, fmt_same, markdown_table
from exp.core.workdir import write_atomic

__all__ = ['main', 'load_findings', 'render_markdown', 'render_png', 'DashboardError']

RESULTS = 'results.json'


class DashboardError(Exception):
  """Bad input; the message is the one line printed on stderr."""


class _Parser(argparse.ArgumentParser):
  def error(self, message: str) -> None:  # one line instead of usage + error
    raise DashboardError(
      f'{message} (usage: python -m exp.analysis.dashboard --out DIR WORKDIR [WORKDIR ...])'
    )


# ---------------------------------------------------------------------------------------------------------
# Input


def _text(x: Any) -> str:
  if x is None:
    return MISSING
  s = ' '.join(str(x).split())
  return s or MISSING


def load_findings(workdirs: Sequence[str]) -> list[dict]:
  """Read and validate every workdir; one flat record per headline finding, in the order given.

  Raises DashboardError (a one-line message) for: no workdirs, a missing workdir or results.json,
  invalid JSON, a results.json that is not an object or has no analysis.headline.
  """
  if not workdirs:
    raise DashboardError(
      'no workdirs given (usage: python -m exp.analysis.dashboard --out DIR WORKDIR [WORKDIR ...])'
    )
  findings = []
  for wd in workdirs:
    if not os.path.isdir(wd):
      raise DashboardError(f'workdir {wd!r} does not exist or is not a directory')
    path = os.path.join(wd, RESULTS)
    if not os.path.isfile(path):
      raise DashboardError(f'{path!r} is missing: run `python run.py --config=... --workdir={wd}` first')
    try:
      with open(path, encoding='utf-8') as f:
        data = json.load(f)
    except json.JSONDecodeError as e:
      raise DashboardError(
        f'{path!r} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})'
      ) from None
    except (OSError, UnicodeDecodeError) as e:
      raise DashboardError(f'{path!r} cannot be read: {e}') from None
    if not isinstance(data, dict):
      raise DashboardError(f'{path!r} must hold a JSON object, found {type(data).__name__}')
    analysis = data.get('analysis')
    heads = analysis.get('headline') if isinstance(analysis, dict) else None
    found = analysis.get('findings') if isinstance(analysis, dict) else None
    raw = [None] * (len(heads) if isinstance(heads, list) else 1)
    if isinstance(found, list) and found and all(isinstance(f, dict) and 'status' in f for f in found):
      heads, raw = [F.headline_of(f) for f in found], found
    if isinstance(heads, dict):
      heads = [heads]
    if not (isinstance(heads, list) and heads and all(isinstance(h, dict) for h in heads)):
      raise DashboardError(
        f'{path!r} has no analysis.headline (workdir {wd!r}); it must be produced by '
        f'`python run.py --config=... --workdir={wd}`'
      )
    runs = data.get('runs') if isinstance(data.get('runs'), list) else []
    status = Counter(str(r.get('status', '?')) for r in runs if isinstance(r, dict))
    for h, raw_f in zip(heads, raw):
      eff = h.get('effect') if isinstance(h.get('effect'), dict) else None
      ci = eff.get('ci95') if eff else None
      ci = [_num(ci[0]), _num(ci[1])] if isinstance(ci, (list, tuple)) and len(ci) == 2 else [math.nan] * 2
      rep = h.get('reproduced')
      findings.append(
        {
          'workdir': wd,
          'experiment': _text(data.get('experiment')),
          'config_sha256': str(data.get('config_sha256') or ''),
          'complete': data.get('complete') is True,
          'n_runs': len(runs),
          'status': dict(status),
          'finding': _text(h.get('finding')),
          'claim': _text(h.get('claim')),
          'result': _text(h.get('result')),
          'effect': None
          if eff is None
          else {'name': _text(eff.get('name')), 'value': _num(eff.get('value')), 'ci95': ci},
          'verdict': _text(h.get('verdict')),
          'reproduced': rep if isinstance(rep, bool) else None,
          'state': h.get('status')
          if h.get('status') in _STATE
          else _STATE_OF[rep if isinstance(rep, bool) else None],
          'seeds_suffice': h.get('seeds_suffice') if isinstance(h.get('seeds_suffice'), bool) else None,
          **_finding_details(raw_f),
        }
      )
  return findings


def _finding_details(f: Mapping[str, Any] | None) -> dict:
  """From a finding (exp/analysis/findings.py): the write-up's numbers, the claim checks' outcomes and
  sentences (with the write-up's number beside ours where the check names one) and the seed numbers."""
  if not isinstance(f, Mapping):
    return {'writeup': MISSING, 'outcomes': [], 'checks': [], 'seeds': {}}
  numbers = (f.get('claim') or {}).get('numbers') or {}
  checks = [c for c in f.get('checks') or [] if isinstance(c, Mapping) and c.get('role') == 'claim']
  lines = []
  for c in checks:
    beside = f' (write-up: {F.render_number(c["claimed"])})' if c.get('claimed') is not None else ''
    lines.append(f'{F.OUTCOME_MARK.get(c.get("outcome"), "?")} {_text(c.get("text"))}{beside}')
  seeds = f.get('seeds') if isinstance(f.get('seeds'), Mapping) else {}
  return {
    'writeup': '; '.join(f'{k} {F.render_number(v)}' for k, v in numbers.items()) or MISSING,
    'outcomes': [c.get('outcome') for c in checks],
    'checks': lines,
    'seeds': {k: seeds.get(k) for k in ('n_a', 'n_b', 'paired', 'power', 'seeds_for_80')},
  }


# ---------------------------------------------------------------------------------------------------------
# Rendering


def _effect_text(eff: Mapping[str, Any] | None) -> str:
  if eff is None:
    return MISSING
  v, lo, hi = fmt_same([eff['value'], *eff['ci95']])
  return f'{eff["name"]} = {v} [{lo}, {hi}]'


_STATE = {
  'reproduced': ('✓ reproduced', 'REPRODUCED', '#1a7f37'),
  'partly': ('◐ partly', 'PARTLY', '#9a6700'),
  'not reproduced': ('✗ not reproduced', 'NOT REPRODUCED', '#cf222e'),
  'inconclusive': ('? inconclusive', 'INCONCLUSIVE', '#6e7781'),
}
_STATE_OF = {True: 'reproduced', False: 'not reproduced', None: 'inconclusive'}


def _reproduced_text(f: Mapping[str, Any]) -> str:
  return _STATE[f['state']][0]


def _seeds_text(f: Mapping[str, Any]) -> str:
  """'yes' / 'no' with the numbers behind it: power at the observed effect, seeds 80% power needs."""
  word = {True: 'yes', False: 'no', None: MISSING}[f.get('seeds_suffice')]
  sd = f.get('seeds') or {}
  n, power, need = sd.get('n_a'), sd.get('power'), sd.get('seeds_for_80')
  if word == MISSING or n is None:
    return word
  detail = f'power {F.render_number(power)} at n {n}'
  if isinstance(need, (int, float)) and math.isfinite(need):
    detail += f'; {int(math.ceil(need))} for 80%'
  return f'{word} ({detail})'


def _experiment_text(f: Mapping[str, Any]) -> str:
  return f['experiment'] + ('' if f['complete'] else ' (incomplete)')


def render_markdown(findings: Sequence[Mapping[str, Any]], missing: Sequence[str] = ()) -> str:
  """dashboard.md: a summary table (one row per finding: the write-up's number beside ours, the status,
  whether the seeds sufficed) and one short section per finding. ``missing`` names experiments that
  were selected but have no complete results (listed under the table)."""
  n_exp = len({f['workdir'] for f in findings})
  lines = [
    '# tenfold dashboard',
    '',
    f'{len(findings)} finding(s) from {n_exp} workdir(s). Status: {F.STATUS_RULE}. Effects are point '
    'estimates with 95% CIs over seeds; "seeds enough": power ≥ 0.8 at the observed effect. '
    '"(incomplete)" marks a workdir whose runs have not all finished.',
    '',
  ]
  rows = [
    [
      _experiment_text(f),
      f['finding'],
      _reproduced_text(f),
      f.get('writeup', MISSING),
      _effect_text(f['effect']),
      _seeds_text(f),
    ]
    for f in findings
  ]
  header = ['experiment', 'finding', 'status', "write-up's numbers", 'ours: effect [95% CI]', 'seeds enough']
  lines.append(markdown_table(header, rows, align=['l'] * 6))
  if missing:
    lines += ['', 'Not in this dashboard: ' + ', '.join(missing) + '.']
  for i, f in enumerate(findings, 1):
    status = ', '.join(f'{k} {v}' for k, v in sorted(f['status'].items())) or 'none recorded'
    sha = f['config_sha256'][:12] or MISSING
    checks = [f'  - {c}' for c in f.get('checks') or []] or [f'  - {f["result"]}']
    lines += [
      '',
      f'## {i}. {f["finding"]} — {_experiment_text(f)}',
      '',
      f'- **Claim:** {f["claim"]}'
      + (f' (write-up: {f["writeup"]})' if f.get('writeup', MISSING) != MISSING else ''),
      '- **Our checks:**',
      *checks,
      f'- **Effect:** {_effect_text(f["effect"])}',
      f'- **Status:** {_reproduced_text(f)}'
      + ('' if f['verdict'] in (f['state'], MISSING) else f' — {f["verdict"]}')
      + f'; seeds enough for the effect: {_seeds_text(f)}',
      f'- **Source:** `{f["workdir"]}` · config sha256 `{sha}` · runs: {f["n_runs"]} ({status})'
      + ('' if f['complete'] else ' · **incomplete**'),
    ]
  return '\n'.join(lines) + '\n'


def _wrap(text: str, width: int, max_lines: int) -> str:
  lines = textwrap.wrap(text, width=width) or [MISSING]
  if len(lines) > max_lines:
    lines = lines[:max_lines]
    lines[-1] = lines[-1][: max(0, width - 1)].rstrip() + '…'
  return '\n'.join(lines)


def _effect_mark(ax: Any, eff: Mapping[str, Any] | None, color: str) -> None:
  """A one-row forest mark: point, CI whiskers, zero line, in the given inset axes."""
  v = eff['value'] if eff else math.nan
  if not math.isfinite(v):
    ax.set_axis_off()  # the value line above already says "no effect estimate"
    return
  ax.set_yticks([])
  for side in ('left', 'right', 'top'):
    ax.spines[side].set_visible(False)
  ax.tick_params(axis='x', labelsize=7, length=2, pad=1)
  ax.axvline(0, color='0.35', lw=0.9)
  lo, hi = eff['ci95'] if eff else (math.nan, math.nan)
  finite = [x for x in (v, lo, hi) if math.isfinite(x)]
  left, right = min(finite + [0.0]), max(finite + [0.0])
  span = right - left if right > left else 1.0
  ax.set_xlim(left - 0.12 * span, right + 0.12 * span)
  ax.set_ylim(-1, 1)
  if math.isfinite(lo) and math.isfinite(hi):
    ax.plot([lo, hi], [0, 0], color=color, lw=2.2, solid_capstyle='butt')
    ax.plot([lo, lo], [-0.35, 0.35], color=color, lw=1.4)
    ax.plot([hi, hi], [-0.35, 0.35], color=color, lw=1.4)
  ax.plot([v], [0], marker='D', ms=7, color=color)


def _value_text(eff: Mapping[str, Any] | None) -> str:
  if eff is None or not math.isfinite(eff['value']):
    return 'no effect estimate'
  v, lo, hi = fmt_same([eff['value'], *eff['ci95']])
  return f'{v}  [{lo}, {hi}]'


def _checks_text(f: Mapping[str, Any]) -> str:
  o = f.get('outcomes') or []
  if not o:
    return ''
  n = len(o)
  return (
    f'claim checks: {sum(x is True for x in o)}/{n} hold, {sum(x is False for x in o)} fail, '
    f'{sum(x is None for x in o)} undecided'
  )


def _panel(fig: Any, rect: Sequence[float], f: Mapping[str, Any]) -> None:
  """One finding: experiment and status badge, title, the write-up's numbers, our effect with its CI as
  a forest mark, the claim checks' tally and whether the seeds sufficed."""
  from matplotlib.patches import FancyBboxPatch

  ax = fig.add_axes(rect)
  ax.set_axis_off()
  ax.set_xlim(0, 1)
  ax.set_ylim(0, 1)
  _, badge, color = _STATE[f['state']]
  ax.add_patch(
    FancyBboxPatch(
      (0.005, 0.005),
      0.99,
      0.99,
      boxstyle='round,pad=0,rounding_size=0.02',
      facecolor='#f6f8fa',
      edgecolor=color,
      lw=2.0,
      transform=ax.transAxes,
    )
  )
  ax.text(
    0.04, 0.945, _wrap(_experiment_text(f), 38, 1), fontsize=9, color='0.3', va='top', fontweight='bold'
  )
  ax.text(
    0.96,
    0.95,
    badge,
    fontsize=9,
    color='white',
    va='top',
    ha='right',
    fontweight='bold',
    bbox=dict(boxstyle='round,pad=0.3', facecolor=color, edgecolor='none'),
  )
  ax.text(0.04, 0.84, _wrap(f['finding'], 48, 2), fontsize=11.5, fontweight='bold', va='top')
  writeup = f.get('writeup', MISSING)
  writeup = writeup if writeup != MISSING else f['claim']
  ax.text(0.04, 0.665, _wrap('Write-up: ' + writeup, 70, 2), fontsize=8.5, color='0.3', va='top')
  eff = f['effect']
  ax.text(
    0.04,
    0.53,
    _wrap('Ours: ' + (eff['name'] if eff else 'no headline effect'), 70, 2),
    fontsize=8.5,
    va='top',
  )
  ax.text(0.04, 0.39, _value_text(eff), fontsize=12, va='top', color=color, fontweight='bold')
  inset = ax.inset_axes([0.5, 0.29, 0.45, 0.11])
  inset.patch.set_alpha(0)
  _effect_mark(inset, eff, color)
  ax.text(0.04, 0.2, _checks_text(f), fontsize=8.5, va='top', color='0.2')
  seeds = _seeds_text(f)
  seeds_color = {True: '#1a7f37', False: '#cf222e'}.get(f.get('seeds_suffice'), '0.4')
  ax.text(0.04, 0.1, 'Seeds enough: ' + seeds, fontsize=8.5, va='top', color=seeds_color)


def render_png(findings: Sequence[Mapping[str, Any]], path: str, missing: Sequence[str] = ()) -> str:
  """dashboard.png: one panel per finding (``_panel``), up to 3 columns, a status tally in the title
  and the experiments without results named at the bottom. Written atomically."""
  import matplotlib.pyplot as plt

  from exp.analysis import plots  # Agg backend is chosen there

  n = max(len(findings), 1)
  ncol = min(n, 3)
  nrow = math.ceil(n / ncol)
  pw, ph, head, foot = 5.4, 3.3, 0.7, 0.35 if missing else 0.1
  height = ph * nrow + head + foot
  fig = plt.figure(figsize=(pw * ncol, height))
  tally = Counter(f['state'] for f in findings)
  summary = ' · '.join(f'{tally[s]} {s}' for s in _STATE if tally[s])
  fig.text(
    0.5,
    1 - 0.12 / height,
    'tenfold — findings at a glance',
    ha='center',
    va='top',
    fontsize=15,
    fontweight='bold',
  )
  fig.text(
    0.5,
    1 - 0.45 / height,
    (summary or 'no findings') + '   —   ◆ our effect, bar: its 95% CI over seeds, vertical line: 0',
    ha='center',
    va='top',
    fontsize=10.5,
    color='0.3',
  )
  top, bottom = 1 - head / height, foot / height
  h = (top - bottom) / nrow
  for i, f in enumerate(findings):
    r, c = divmod(i, ncol)
    _panel(fig, [c / ncol + 0.006 / ncol, top - (r + 1) * h + 0.012 * h, 0.988 / ncol, 0.976 * h], f)
  if missing:
    fig.text(
      0.01,
      0.08 / height,
      'Not in this dashboard: ' + ', '.join(missing),
      fontsize=9,
      color='#cf222e',
      va='bottom',
    )
  return plots.save_figure(fig, path)


# ---------------------------------------------------------------------------------------------------------
# CLI


def main(argv: Sequence[str] | None = None) -> int:
  """Entry point of ``python -m exp.analysis.dashboard``; returns the exit status (0 ok, 2 bad input)."""
  parser = _Parser(
    prog='python -m exp.analysis.dashboard',
    description='Summary dashboard (markdown + PNG) of the headline findings of workdirs.',
  )
  parser.add_argument('--out', required=True, help='output directory for dashboard.md and dashboard.png')
  parser.add_argument(
    'workdirs', nargs='*', metavar='WORKDIR', help='experiment workdirs (with results.json)'
  )
  try:
    try:
      args = parser.parse_args(argv)
    except SystemExit as e:  # --help
      return int(e.code or 0)
    findings = load_findings(args.workdirs)
    if os.path.exists(args.out) and not os.path.isdir(args.out):
      raise DashboardError(f'--out {args.out!r} exists and is not a directory')
  except DashboardError as e:
    print(f'dashboard: error: {e}', file=sys.stderr)
    return 2
  md = render_markdown(findings)
  os.makedirs(args.out, exist_ok=True)
  png = render_png(findings, os.path.join(args.out, 'dashboard.png'))
  md_path = write_atomic(os.path.join(args.out, 'dashboard.md'), md)
  print(f'wrote {md_path} and {png} ({len(findings)} findings)')
  return 0


if __name__ == '__main__':
  sys.exit(main())
