"""exp.load(workdir) -> (runs, curves) pandas DataFrames, on a real run of the toy walk (conftest's
walk_run: both arms, 4 learning rates, 3 seeds, with done, censored and diverged runs)."""

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import read_metrics, read_results

import exp


def test_runs_one_row_per_run_with_grid_status_and_final_metrics(walk_run):
  runs, _ = exp.load(walk_run)
  records = read_results(walk_run)['runs']
  assert isinstance(runs, pd.DataFrame) and len(runs) == len(records)
  assert list(runs.columns[:5]) == ['experiment', 'arm', 'seed', 'status', 'lr']
  assert set(runs.columns[5:]) == {k for r in records for k in r['metrics']}  # diverged_step, ...
  assert set(runs.experiment) == {'toylab.walk'} and runs.seed.dtype == np.int64
  for row, rec in zip(runs.itertuples(), records):
    assert (row.arm, row.seed, row.status, row.lr) == (
      rec['arm'],
      rec['seed'],
      rec['status'],
      rec['grid']['lr'],
    )
    for k, v in rec['metrics'].items():
      got = getattr(row, k)
      assert (v is None and pd.isna(got)) or got == pytest.approx(v), k
  # Every status of the smoke walk is there, and a pandas one-liner gives the per-cell table.
  assert set(runs.status) == {'ok', 'censored', 'diverged'}
  lr = sorted(set(runs.lr))[1]  # 0.1 as float32 stored it
  done = runs[runs.status == 'ok'].groupby(['arm', 'lr']).steps_to_done.agg(['mean', 'count'])
  walk01 = [r['metrics']['steps_to_done'] for r in records if r['arm'] == 'walk' and r['grid']['lr'] == lr]
  assert len(walk01) == 3 and done.loc[('walk', lr), 'mean'] == pytest.approx(np.mean(walk01))
  assert done.loc[('walk', lr), 'count'] == len(walk01)


def test_curves_one_row_per_log_point(walk_run):
  _, curves = exp.load(walk_run)
  lines = read_metrics(walk_run)
  assert len(curves) == len(lines)
  assert list(curves.columns) == ['experiment', 'arm', 'seed', 'step', 'lr', 'err']
  assert curves.step.dtype == np.int64
  for row, line in zip(curves.itertuples(), lines):
    assert (row.arm, row.seed, row.step, row.lr) == (
      line['arm'],
      line['seed'],
      line['step'],
      line['grid']['lr'],
    )
    v = line['metrics']['err']
    assert (v is None and pd.isna(row.err)) or row.err == pytest.approx(v)
  # The mean curve of a cell over seeds, as a plot would draw it.
  lr = sorted(set(curves.lr))[1]  # 0.1 as float32 stored it
  mean = curves[(curves.arm == 'walk') & (curves.lr == lr)].groupby('step').err.mean()
  first = [
    l['metrics']['err'] for l in lines if l['arm'] == 'walk' and l['grid']['lr'] == lr and l['step'] == 5
  ]
  assert len(first) == 3 and mean.loc[5] == pytest.approx(np.mean(first))


def test_a_catalogue_dir_stacks_its_experiments(walk_run, tmp_path):
  d = tmp_path / 'DIR'
  for name in ('b_second', 'a_first'):
    shutil.copytree(walk_run, d / name)
  (d / 'catalogue.json').write_text(json.dumps({'experiments': [{'name': 'b_second'}, {'name': 'a_first'}]}))
  (d / 'dashboard.md').write_text('not a workdir')
  runs, curves = exp.load(str(d))
  n = len(read_results(walk_run)['runs'])
  assert list(runs.experiment) == ['b_second'] * n + ['a_first'] * n  # catalogue.json's order
  assert len(curves) == 2 * len(read_metrics(walk_run))


def test_a_running_workdir_has_curves_and_no_runs_yet(walk_run, tmp_path):
  wd = tmp_path / 'running'
  shutil.copytree(walk_run, wd)
  os.remove(wd / 'results.json')
  runs, curves = exp.load(str(wd))
  assert runs.empty and list(runs.columns[:4]) == ['experiment', 'arm', 'seed', 'status']
  assert len(curves) == len(read_metrics(walk_run))


def test_metric_names_that_clash_with_columns_are_prefixed(tmp_path):
  wd = tmp_path / 'w'
  wd.mkdir()
  (wd / 'config.json').write_text(json.dumps({'sha256': 'x', 'config': {'experiment': 'x'}}))
  rec = {
    'arm': 'a',
    'seed': 0,
    'grid': {'lr': 0.1},
    'status': 'ok',
    'metrics': {'lr': 0.5, 'seed': 3, 'd': [1, 2]},
  }
  (wd / 'results.json').write_text(json.dumps({'runs': [rec]}))
  runs, curves = exp.load(str(wd))
  assert runs.iloc[0].to_dict() == {
    'experiment': 'x',
    'arm': 'a',
    'seed': 0,
    'status': 'ok',
    'lr': 0.1,
    'metric_lr': 0.5,
    'metric_seed': 3,
    'd': [1, 2],
  }
  assert curves.empty


def test_not_a_workdir(tmp_path):
  with pytest.raises(FileNotFoundError, match='neither an experiment workdir'):
    exp.load(str(tmp_path / 'nothing'))
  from exp import load  # the same function, importable by name

  assert load is exp.load
