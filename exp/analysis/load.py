"""Workdirs as pandas DataFrames: ``runs, curves = exp.load(workdir)``.

    import exp
    runs, curves = exp.load('/tmp/capacity_cliff')        # one experiment's workdir
    runs, curves = exp.load('/tmp/catalogue')             # a catalogue DIR: every DIR/<name>/ stacked
    runs.groupby(['arm', 'width']).exact.agg(['mean', 'std', 'count'])
    curves[curves.seed == 0].pivot_table(index='step', columns='width', values='loss')

``runs``: one row per run of results.json — experiment (the config's, or DIR/<name> in a catalogue), arm, seed, one column per grid value, status
(ok / censored / diverged), one column per final metric. ``curves``: one row per log point of
metrics.jsonl — experiment, arm, seed, the grid values, step, one column per logged metric. A grid value
an arm does not have is NaN; a metric that is not a number (a per-depth list) stays a Python list; a
metric whose name is taken by a grid value or by one of the fixed columns is prefixed ``metric_``.
A workdir still running has curves (metrics.jsonl grows after every chunk) and no runs yet.
Plain files only (no jax), so a notebook can read a workdir while its job runs.
"""

from __future__ import annotations

import json
import os

import pandas as pd

FIXED_RUNS = ('experiment', 'arm', 'seed', 'status')
FIXED_CURVES = ('experiment', 'arm', 'seed', 'step')


def load(workdir: str) -> tuple[pd.DataFrame, pd.DataFrame]:
  """(runs, curves) of an experiment's workdir, or of every experiment of a catalogue DIR (the
  sub-workdirs holding a config.json, in catalogue.json's order when there is one).

  Raises FileNotFoundError when ``workdir`` holds neither an experiment nor a catalogue."""
  workdir = os.fspath(workdir)
  if os.path.isfile(os.path.join(workdir, 'config.json')):
    return _one(workdir)
  subs = _catalogue_members(workdir)
  if not subs:
    raise FileNotFoundError(
      f'{workdir!r} is neither an experiment workdir (config.json) nor a catalogue DIR (DIR/<name>/config.json)'
    )
  parts = [_one(s, os.path.basename(s)) for s in subs]
  runs = pd.concat([p[0] for p in parts], ignore_index=True)
  curves = pd.concat([p[1] for p in parts], ignore_index=True)
  return runs, curves


def _catalogue_members(workdir: str) -> list[str]:
  if not os.path.isdir(workdir):
    return []
  names = sorted(os.listdir(workdir))
  try:
    with open(os.path.join(workdir, 'catalogue.json')) as f:
      order = [x['name'] for x in json.load(f)['experiments']]
    names = [n for n in order if n in names] + [n for n in names if n not in order]
  except (OSError, ValueError, KeyError, TypeError):
    pass
  return [os.path.join(workdir, n) for n in names if os.path.isfile(os.path.join(workdir, n, 'config.json'))]


def _experiment_name(workdir: str) -> str:
  with open(os.path.join(workdir, 'config.json')) as f:
    return str(json.load(f)['config'].get('experiment', os.path.basename(workdir)))


def _one(workdir: str, name: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
  name = name or _experiment_name(workdir)
  records = []
  path = os.path.join(workdir, 'results.json')
  if os.path.isfile(path):
    with open(path) as f:
      records = json.load(f).get('runs') or []
  lines = []
  path = os.path.join(workdir, 'metrics.jsonl')
  if os.path.isfile(path):
    with open(path) as f:
      lines = [json.loads(l) for l in f if l.strip()]
  runs = _frame(name, records, FIXED_RUNS, lambda r: {'status': r.get('status')})
  curves = _frame(name, lines, FIXED_CURVES, lambda r: {'step': r.get('step')})
  return runs, curves


def _frame(name: str, rows: list[dict], fixed: tuple, own) -> pd.DataFrame:
  """One row per record: the fixed columns, the grid values, then the metrics (renamed on a clash)."""
  grid_names = list(dict.fromkeys(k for r in rows for k in (r.get('grid') or {})))
  metric_names = list(dict.fromkeys(k for r in rows for k in (r.get('metrics') or {})))
  taken = set(fixed) | set(grid_names)
  rename = {m: f'metric_{m}' if m in taken else m for m in metric_names}
  out = []
  for r in rows:
    row = {'experiment': name, 'arm': r.get('arm'), 'seed': r.get('seed'), **own(r)}
    row.update(r.get('grid') or {})
    row.update({rename[k]: v for k, v in (r.get('metrics') or {}).items()})
    out.append(row)
  columns = list(fixed) + grid_names + [rename[m] for m in metric_names]
  df = pd.DataFrame(out, columns=columns)
  for col in ('seed', 'step'):
    if col in df and len(df) and df[col].notna().all():
      df[col] = df[col].astype('int64')
  return df
