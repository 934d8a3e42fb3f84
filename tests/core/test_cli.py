"""Bad input: one clear line naming the key and what is accepted, exit code 2, nothing written."""

import os

import pytest
from conftest import WALK, read_results, run_cli, snapshot

SMOKE = '--config=configs/memorization.py:smoke'

CASES = {
  'unknown key': ([SMOKE, '--config.nonexistent=1'], ['nonexistent', 'accepted']),
  'near-miss key': ([SMOKE, '--config.num_sedes=3'], ['num_sedes', "did you mean 'num_seeds'"]),
  'wrong type': ([SMOKE, '--config.num_seeds=abc'], ['--config.num_seeds', 'abc']),
  'int written as float': ([SMOKE, '--config.num_steps=1e3'], ['--config.num_steps', '1e3']),
  'missing config file': (
    ['--config=configs/missing.py'],
    ['no such config file', 'configs/memorization.py'],
  ),
  'unknown variant': (['--config=configs/memorization.py:bogus'], ['bogus', "'smoke'"]),
  'missing --config': ([], ['--config is required']),
  'num_seeds < 1 (a config check, through the runner)': (
    [SMOKE, '--config.num_seeds=0'],
    ['--config.num_seeds', '>= 1'],
  ),
  'stray argument': ([SMOKE, 'extra'], ['unexpected arguments']),
  'unknown dotted experiment': (
    [SMOKE, '--config.experiment=nolab.nothing'],
    ["no module 'nolab.nothing'", 'memorization', 'dotted module path'],
  ),
  'a module that is not a family': (
    [f'--config={WALK}', '--config.experiment=toylab.config'],
    ["module 'toylab.config' lacks validate and build"],
  ),
}

# Config checks run before anything is written; the path from ConfigError to one line and exit 2 is
# covered by the subprocess case above, so these are checked in-process (fast).
CONFIG_CASES = {
  'unknown arm': (dict(arms=('sl', 'bogus')), 'arms', ['bogus', 'rl_eoe']),
  'arms given as a comma list with a typo': (dict(arms=('sl,rl_eo',)), 'arms', ["'rl_eo'"]),
  'no arm': (dict(arms=()), 'arms', ['at least one']),
  'bad grid': (dict(ns=(1, 4)), 'ns', ['>= 2']),
  'bad choice': (dict(shaped_reward='cubic'), 'shaped_reward', ['linear']),
  'log_every not dividing chunk_steps': (dict(log_every=7), 'log_every', ['divide']),
  'non-positive learning rate': (dict(sl_lrs=(0.1, 0.0)), 'sl_lrs', ['positive']),
  'negative seed': (dict(seed=-1), 'seed', ['>= 0']),
  'unknown experiment': (dict(experiment='nope'), 'experiment', ['memorization']),
}


@pytest.mark.parametrize('name', sorted(CONFIG_CASES))
def test_bad_config_values_are_refused_before_anything_is_written(name, tmp_path):
  from conftest import load_config

  from exp.core import runner
  from exp.core.experiment import ConfigError

  overrides, key, needles = CONFIG_CASES[name]
  config = load_config()
  with config.unlocked():
    for k, v in overrides.items():
      config[k] = v
  with pytest.raises(ConfigError) as err:
    runner.prepare(config, str(tmp_path / 'w'))
  assert err.value.key == key
  for needle in needles:
    assert needle in str(err.value)
  assert not (tmp_path / 'w').exists()


@pytest.mark.parametrize('name', sorted(CASES))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(name, tmp_path):
  args, needles = CASES[name]
  workdir = tmp_path / 'w'
  out = run_cli(*args, f'--workdir={workdir}')
  assert out.returncode == 2, (out.returncode, out.stderr[-1500:])
  lines = [l for l in out.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith('tenfold: '), out.stderr
  for needle in needles:
    assert needle in lines[0], (needle, lines[0])
  assert not workdir.exists()
  assert out.stdout.strip() == ''


def test_missing_workdir_flag():
  out = run_cli(SMOKE)
  assert out.returncode == 2 and out.stderr.strip() == (
    'tenfold: --workdir is required: the directory for checkpoints and results (rerun with it to resume)'
  )


def test_workdir_that_is_a_file(tmp_path):
  f = tmp_path / 'file'
  f.write_text('x')
  out = run_cli(SMOKE, f'--workdir={f}')
  assert out.returncode == 2 and 'not a directory' in out.stderr and f.read_text() == 'x'


def test_workdir_with_a_different_config_is_refused_untouched(walk_run):
  before = snapshot(walk_run)
  out = run_cli(f'--config={WALK}', f'--workdir={walk_run}', '--config.seed=5')
  assert out.returncode == 2
  assert 'different config' in out.stderr and 'seed: 0 -> 5' in out.stderr
  assert snapshot(walk_run) == before


def test_rerun_of_a_finished_workdir_prints_the_report(walk_run):
  before = snapshot(walk_run)
  out = run_cli(f'--config={WALK}', f'--workdir={walk_run}')
  assert out.returncode == 0
  assert out.stdout.strip() == open(os.path.join(walk_run, 'report.md')).read().strip()
  assert snapshot(walk_run) == before


def test_a_family_outside_the_package_runs_through_run_py_by_dotted_path(tmp_path):
  """tests/plugins/toylab is a researcher's own package on PYTHONPATH, not registered anywhere."""
  work = tmp_path / 'plugin'
  out = run_cli(f'--config={WALK}', f'--workdir={work}', '--config.arms=walk', '--config.num_seeds=1')
  assert out.returncode == 0, out.stderr[-2000:]
  res = read_results(work)
  assert res['experiment'] == 'walk' and len(res['runs']) == 4
  assert '# Toy walk' in out.stdout
