"""Live TensorBoard curves (exp/core/live.py), driven directly on the metrics.jsonl of real runs of the toy
walk: every logged point lands once in its run's event file, bands are the seeds' mean and t-based CI, and a
resume (metrics.jsonl cut back and recomputed) writes no step twice."""

import glob
import importlib.util
import json
import os
import struct

import numpy as np
import pytest
from conftest import load_config

from exp.analysis.stats import describe
from exp.core import live as live_lib
from exp.core import runner, validate
from exp.core.validate import ConfigError

WALK = dict(arms=('walk',), num_seeds=3, lrs=(0.02, 0.1, 40.0), num_steps=40)


def walk_config():
  return load_config('tests/plugins/toylab/config.py:smoke', **WALK)


def read_events(path):
  """[(step, tag, value)] of an event file, read with the TFRecord framing (no TensorFlow needed)."""
  from tensorboardX.proto import event_pb2

  out, data, i = [], open(path, 'rb').read(), 0
  while i < len(data):
    (n,) = struct.unpack('Q', data[i : i + 8])
    event = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
    i += 12 + n + 4
    for v in event.summary.value:
      if v.HasField('simple_value'):
        out.append((event.step, v.tag, v.simple_value))
  return out


def all_events(workdir):
  root = os.path.join(workdir, 'tensorboard')
  return {
    os.path.relpath(os.path.dirname(p), root): read_events(p)
    for p in glob.glob(os.path.join(root, '**', live_lib.EVENTS), recursive=True)
  }


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  """An uninterrupted run and the events of one Live that read its finished metrics.jsonl."""
  wd = str(tmp_path_factory.mktemp('ref'))
  assert runner.run(walk_config(), wd, quiet=True).status == 'complete'
  live = live_lib.Live(wd, walk_config())
  live.close(complete=True)
  return wd, all_events(wd)


def test_every_logged_point_is_in_its_runs_event_file(reference):
  wd, events = reference
  lines = [json.loads(l) for l in open(os.path.join(wd, 'metrics.jsonl'))]
  expected = {}
  for l in lines:
    run = f'walk/lr={l["grid"]["lr"]:.6g}/seed_{l["seed"]}'
    if l['metrics']['err'] is not None:
      expected.setdefault(run, []).append((l['step'], 'err', pytest.approx(l['metrics']['err'], rel=1e-6)))
  runs = {k: v for k, v in events.items() if '/seed_' in k}
  assert sorted(runs) == sorted(expected) and len(runs) == 9  # 3 learning rates x 3 seeds
  for run, points in expected.items():
    assert runs[run] == points, run
  # lr 40 diverges: its non-finite points are left out, never written as numbers.
  assert len(runs['walk/lr=40/seed_0']) < len(runs['walk/lr=0.1/seed_0'])


def test_bands_are_mean_and_t_ci_over_seeds(reference):
  wd, events = reference
  lines = [json.loads(l) for l in open(os.path.join(wd, 'metrics.jsonl'))]
  band = {(tag, step): v for step, tag, v in events['walk/lr=0.1/mean_ci']}
  for step in (0, 10, 35):
    vals = [l['metrics']['err'] for l in lines if l['step'] == step and l['grid']['lr'] == pytest.approx(0.1)]
    d = describe(np.array(vals, float))
    assert len(vals) == 3
    assert band[('err/mean', step)] == pytest.approx(d['mean'], rel=1e-5)
    assert band[('err/ci95_lo', step)] == pytest.approx(d['ci95'][0], rel=1e-5)
    assert band[('err/ci95_hi', step)] == pytest.approx(d['ci95'][1], rel=1e-5)
  # The custom-scalars layout (a margin chart per metric) sits in the top directory.
  assert os.path.exists(os.path.join(wd, 'tensorboard', live_lib.EVENTS))


def test_a_resume_appends_and_never_writes_a_step_twice(tmp_path, reference):
  ref_wd, ref_events = reference
  wd = str(tmp_path / 'w')
  assert runner.run(walk_config(), wd, max_chunks=1, quiet=True).status == 'interrupted'
  checkpointed = os.path.getsize(os.path.join(wd, 'metrics.jsonl'))
  assert live_lib.Live(wd, walk_config()).update() > 0
  # A job killed after appending chunk 2's lines but before its checkpoint: the lines are there (the
  # reference run's, identical), Live consumes them, then the resume cuts them off and recomputes them.
  ref_lines = open(os.path.join(ref_wd, 'metrics.jsonl')).read().splitlines(keepends=True)
  with open(os.path.join(wd, 'metrics.jsonl'), 'a') as f:
    f.writelines(l for l in ref_lines if 10 <= json.loads(l)['step'] < 20)
  live = live_lib.Live(wd, walk_config())  # a new process
  assert live.update() == 9 * 2
  assert runner.run(walk_config(), wd, quiet=True).status == 'complete'
  assert os.path.getsize(os.path.join(wd, 'metrics.jsonl')) > checkpointed
  live = live_lib.Live(wd, walk_config())
  live.close(complete=True)
  got = all_events(wd)
  for run, points in got.items():
    keys = [(s, t) for s, t, _ in points]
    assert len(keys) == len(set(keys)), f'{run} has a step twice'
  assert got == ref_events


def test_events_written_after_the_last_progress_save_are_cut_back(tmp_path, reference):
  ref_wd, _ = reference
  wd = tmp_path / 'w'
  wd.mkdir()
  lines = open(os.path.join(ref_wd, 'metrics.jsonl')).read().splitlines(keepends=True)
  (wd / 'metrics.jsonl').write_text(''.join(lines[:6]))
  live_lib.Live(str(wd), walk_config()).update()
  path = glob.glob(str(wd / 'tensorboard' / 'walk' / '*' / 'seed_0' / live_lib.EVENTS))[0]
  size = os.path.getsize(path)
  with open(path, 'ab') as f:  # a Live killed between writing events and saving its progress
    f.write(b'\0' * 40)
  live_lib.Live(str(wd), walk_config())
  assert os.path.getsize(path) == size


def test_without_tensorboardx_one_clear_error(monkeypatch, tmp_path):
  real = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec', lambda n, *a: None if n == 'tensorboardX' else real(n, *a))
  with pytest.raises(ConfigError, match='tensorboard: needs the optional package tensorboardX: pip install'):
    live_lib.Live(str(tmp_path), walk_config())
  config = walk_config()
  config.tensorboard = True
  with pytest.raises(ConfigError, match='tensorboardX'):
    validate.validate_common(config, ('walk', 'heavy'))
  config.tensorboard = False
  validate.validate_common(config, ('walk', 'heavy'))  # off: nothing needed
