"""The catalogue (configs/catalogue.py, exp/core/catalogue.py): several experiments into DIR/<name>/, one
dashboard, resume / skip / lock / bad input as for one experiment. Real runs: one of tenfold's families
(capacity_cliff :smoke) and the toy lab's families (tests/plugins/toylab), which take seconds."""

import json
import os

import pytest
from conftest import ROOT, WALK, load_config, read_results, run_cli, snapshot

from exp.core import catalogue, cli, runner
from exp.core.validate import ConfigError
from exp.core.workdir import WorkdirLock

# The toy walk at its cheapest (one arm, 2 seeds, 2 learning rates, 3 chunks) and the toy pretraining
# family, whose analysis has no headline.
TINY_WALK = """
from configs.common import base_config, variant


def get_config(arg=None):
  c = base_config('toylab.walk', ('walk',), num_steps=30, chunk_steps=10, log_every=5, num_seeds=2)
  c.lrs = (0.02, 0.1)
  c.sigma = 0.05
  c.tol = 0.05
  c.momentum = 0.5
  return variant(c, arg, smoke={})
"""
PRETRAIN = 'tests/plugins/toylab/pretrain.py'


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
  path = tmp_path_factory.mktemp('cfg') / 'tiny_walk.py'
  path.write_text(TINY_WALK)
  return str(path)


def cat_config(experiments, variant='smoke', **overrides):
  c = load_config('configs/catalogue.py:' + variant if variant else 'configs/catalogue.py')
  c.experiments = tuple(experiments.split(',')) if isinstance(experiments, str) else experiments
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def _is_png(path):
  with open(path, 'rb') as f:
    return f.read(8) == b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def cat_run(tmp_path_factory, tiny):
  """The smoke catalogue with a real family and the toy walk, run once in this process."""
  d = str(tmp_path_factory.mktemp('cat') / 'DIR')
  out = catalogue.run(cat_config(f'capacity_cliff,{tiny}'), d, quiet=True)
  return d, out


def test_catalogue_runs_every_experiment_and_writes_the_dashboard(cat_run):
  d, out = cat_run
  assert out.status == 'complete'
  assert sorted(os.listdir(d)) == [
    '.lock',
    'capacity_cliff',
    'catalogue.json',
    'dashboard.md',
    'dashboard.png',
    'toylab.walk',
  ]
  cliff = read_results(os.path.join(d, 'capacity_cliff'))
  assert cliff['complete'] and cliff['config_sha256']
  # Each sub-workdir is the experiment's own: the same config as its :smoke file.
  assert len(cliff['runs']) == 2 * 5  # 2 seeds x 5 widths of the smoke config
  md = open(os.path.join(d, 'dashboard.md')).read()
  table = [ln for ln in md.splitlines() if ln.startswith('| ') and 'finding' not in ln]
  findings = cliff['analysis']['findings']
  assert len(table) == len(findings) + 1  # + the walk's headline
  for f in findings:  # one row per finding with its status, the write-up's numbers and our effect
    row = next(r for r in table if f['title'] in r)
    assert f['status'] in row and 'power' in row
  assert '0.400' in md  # capacity_cliff's claimed "success below 0.4", beside our effect
  assert _is_png(os.path.join(d, 'dashboard.png'))
  state = json.load(open(os.path.join(d, 'catalogue.json')))
  assert [(x['name'], x['status']) for x in state['experiments']] == [
    ('capacity_cliff', 'complete'),
    ('toylab.walk', 'complete'),
  ]


def test_rerun_skips_finished_experiments_and_computes_nothing(cat_run, tiny, capsys):
  d, _ = cat_run
  before = snapshot(os.path.join(d, 'capacity_cliff'))
  out = catalogue.run(cat_config(f'capacity_cliff,{tiny}'), d)
  text = capsys.readouterr().out
  assert out.status == 'complete'
  assert text.count('finished earlier, skipped') == 2 and 'ETA' in text
  assert snapshot(os.path.join(d, 'capacity_cliff')) == before


def test_a_preempted_catalogue_resumes_where_it_stopped(tmp_path, tiny, capsys):
  d = str(tmp_path / 'DIR')
  sel = f'{tiny},{PRETRAIN}'
  out = catalogue.run(cat_config(sel), d, max_chunks=1)
  assert out.status == 'interrupted'
  assert not os.path.exists(os.path.join(d, 'toylab.pretrain'))  # not started
  assert 'stopped early' in capsys.readouterr().out
  out = catalogue.run(cat_config(sel), d)
  text = capsys.readouterr().out
  assert out.status == 'complete' and 'resuming from checkpoint' in text
  # One progress line per experiment with the catalogue's ETA; the reports stay in report.md.
  assert text.count('[catalogue] 1/2 toylab.walk: complete in') == 1 and text.count('ETA') >= 4
  assert '# Toy walk' not in text
  # The resumed walk equals an uninterrupted run of the same config.
  alone = runner.run(catalogue.load_config_file(tiny), str(tmp_path / 'alone'), quiet=True)
  assert read_results(os.path.join(d, 'toylab.walk'))['runs'] == alone.results['runs']
  md = open(os.path.join(d, 'dashboard.md')).read()
  assert 'Not in this dashboard: toylab.pretrain (complete, but no findings or headline)' in md


def test_an_experiment_that_crashes_does_not_stop_the_others(tmp_path, tiny, monkeypatch):
  real = runner.run

  def flaky(config, workdir, **kw):
    if workdir.endswith('boom'):
      raise RuntimeError('boom')
    return real(config, workdir, **kw)

  monkeypatch.setattr(runner, 'run', flaky)
  d = str(tmp_path / 'DIR')
  out = catalogue.run(cat_config(f'boom={tiny},{tiny}'), d, quiet=True)  # named twice, two workdirs
  assert out.status == 'failed'
  assert 'RuntimeError: boom' in open(os.path.join(d, 'boom', 'error.txt')).read()
  assert read_results(os.path.join(d, 'toylab.walk'))['complete']
  state = {x['name']: x for x in json.load(open(os.path.join(d, 'catalogue.json')))['experiments']}
  assert state['boom']['status'] == 'failed' and state['toylab.walk']['status'] == 'complete'
  assert 'Not in this dashboard: boom (failed)' in open(os.path.join(d, 'dashboard.md')).read()


def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, tiny, capsys):
  d = tmp_path / 'DIR'
  cases = [
    (['--config.experiments=capacity_cliff,nope'], "unknown experiment 'nope'"),
    (['--config.experimets=a'], "did you mean 'experiments'"),
  ]
  for flags, words in cases:
    proc = run_cli('--config=configs/catalogue.py:smoke', f'--workdir={d}', *flags)
    assert proc.returncode == 2, (flags, proc.stderr)
    assert proc.stderr.count('\n') == 1 and words in proc.stderr, (flags, proc.stderr)
    assert not d.exists()
  with pytest.raises(SystemExit) as stop:  # --report_only: per experiment only
    cli.launch(cat_config(tiny), str(d), True, ['run.py'])
  assert stop.value.code == 2 and 'not for the catalogue' in capsys.readouterr().err
  for sel, words in [
    (f'{tiny},{tiny}', "names 'toylab.walk' twice"),
    ('tests/plugins/toylab/missing.py', 'no config file'),
    (f'a b={tiny}', 'letters, digits'),
  ]:
    with pytest.raises(ConfigError, match=words):
      catalogue.run(cat_config(sel), str(d), quiet=True)
    assert not d.exists()


def test_a_sub_workdir_holding_another_config_is_refused_before_anything_runs(tmp_path, tiny):
  d = str(tmp_path / 'DIR')
  other = load_config(WALK)
  os.makedirs(os.path.join(d, 'toylab.walk'))
  with open(os.path.join(d, 'toylab.walk', 'config.json'), 'w') as f:
    json.dump({'sha256': 'x' * 64, 'config': json.loads(other.to_json())}, f)
  with pytest.raises(ConfigError, match='holds a run of a different config'):
    catalogue.run(cat_config(tiny), d, quiet=True)
  assert sorted(os.listdir(d)) == ['toylab.walk']  # no lock file, nothing else
  with pytest.raises(ConfigError, match='single experiment'):
    catalogue.run(cat_config(tiny), os.path.join(d, 'toylab.walk'), quiet=True)


def test_one_catalogue_job_per_dir(tmp_path, tiny):
  d = str(tmp_path / 'DIR')
  with WorkdirLock(d):
    with pytest.raises(ConfigError, match='in use by a running job'):
      catalogue.run(cat_config(tiny), d, quiet=True)


def test_the_default_selection_leaves_out_families_that_do_not_load(tmp_path, monkeypatch):
  from exp.core import registry

  monkeypatch.setitem(registry.FAMILIES, 'ghost', 'exp.families.ghost')  # no config, no module
  notes = []
  entries = catalogue.select(cat_config(()), str(tmp_path / 'DIR'), notes)
  names = [e.name for e in entries]
  assert 'ghost' not in names and any(n.startswith('[catalogue] left out ghost') for n in notes)
  for name in ('memorization', 'capacity_cliff', 'model_switch'):
    assert name in names
    assert entries[names.index(name)].config.num_seeds <= 3  # the :smoke variant of each
  assert names == [n for n in registry.FAMILIES if n in names]  # the registry's order
  with pytest.raises(ConfigError, match='ghost'):  # named explicitly, it is an error
    catalogue.select(cat_config('ghost'), str(tmp_path / 'DIR'))
  assert not os.path.exists(tmp_path / 'DIR')
  with pytest.raises(
    ConfigError, match="no experiment can be run .first: memorization: unknown config variant 'nope'"
  ):
    bad = cat_config(())
    bad.variant = 'nope'
    catalogue.select(bad, str(tmp_path / 'DIR'))


def test_eta_rescales_the_prior_by_the_time_actually_taken():
  prior = {'a': 10.0, 'b': 30.0, 'c': 10.0}
  assert catalogue.eta(['a', 'b'], {}, prior) == 40.0
  assert catalogue.eta(['a', 'b'], {'c': 20.0}, prior) == 80.0  # twice as slow as the prior
  assert catalogue.eta(['x'], {}, prior) == pytest.approx(50 / 3)  # unknown: the mean prior
  assert catalogue.eta([], {'c': 5.0}, prior) == 0.0


def test_catalogue_config_documents_every_key():
  doc = open(os.path.join(ROOT, 'configs', 'catalogue.py')).read().split('"""')[1]
  for key in load_config('configs/catalogue.py'):
    if key != 'experiment':
      assert f'  {key} ' in doc, key
