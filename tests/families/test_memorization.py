"""Family A on the smoke config: behaviour of the arms and the shape of the analysis and report."""

import os

import numpy as np
from conftest import load_config, read_results

from exp.core import runner
from exp.families import memorization


def _runs(results, arm, **grid):
  return [r for r in results['runs'] if r['arm'] == arm and all(r['grid'][k] == v for k, v in grid.items())]


def test_sl_with_a_large_step_needs_two_episodes_at_every_n(smoke_run):
  res = read_results(smoke_run)
  big = max(load_config().sl_lrs)
  for r in _runs(res, 'sl'):
    if np.isclose(r['grid']['lr'], big):
      assert r['status'] == 'ok' and r['metrics']['steps_to_done'] + 1 == 2, r
      assert r['metrics']['p_target'] >= 0.5 and r['metrics']['abs_err'] == 0


def test_small_step_sl_needs_more_episodes_than_large_step(smoke_run):
  res = read_results(smoke_run)
  lrs = sorted(load_config().sl_lrs)
  small = [r['metrics']['steps_to_done'] for r in _runs(res, 'sl') if np.isclose(r['grid']['lr'], lrs[0])]
  assert all(s is not None and s + 1 > 2 for s in small)


def test_rl_eoe_cannot_converge_before_its_first_success(smoke_run):
  # With a 0/1 reward nothing moves the policy towards y* before it is first sampled. (Shaped and
  # per-token rewards can converge without ever sampling y* exactly.)
  runs = [r for r in read_results(smoke_run)['runs'] if r['arm'] == 'rl_eoe' and r['status'] == 'ok']
  assert runs
  for r in runs:
    assert 1 <= r['metrics']['first_success'] <= r['metrics']['steps_to_done'] + 1


def test_grid_points_of_a_seed_share_their_data():
  """Common random numbers: the same seed gives the same context x and the same u behind y* = ⌊u·N⌋."""
  import jax
  import jax.numpy as jnp

  cfg = load_config()
  exp = memorization.build(cfg)
  arm = exp.arms[0]
  key = runner.seed_key(0, 3)
  a = arm.init(key, {'n': jnp.int32(4), 'lr': jnp.float32(0.1)})
  b = arm.init(key, {'n': jnp.int32(16), 'lr': jnp.float32(0.001)})
  assert np.array_equal(a['x'], b['x'])
  assert jax.tree.all(jax.tree.map(np.array_equal, a['params'], b['params']))
  assert int(b['y']) // 4 == int(a['y'])  # y* = ⌊u·N⌋ with the same u


def test_analysis_and_report_sections(smoke_run):
  res = read_results(smoke_run)
  an = res['analysis']
  assert set(an) >= {'cells', 'fits', 'comparisons', 'audit', 'headline'}
  fit = an['fits']['sl']['per_seed']
  assert fit['exponent'] == 0.0  # 2 episodes at every N: exactly flat
  h = an['headline']
  assert set(h) >= {'finding', 'claim', 'result', 'effect', 'verdict', 'reproduced'}
  report = open(os.path.join(smoke_run, 'report.md')).read()
  for section in ('| N |', '## Scaling', '## SL vs RL', '## Audit', '## Verdict', 'plots/episodes_vs_n.png'):
    assert section in report
  assert os.path.getsize(os.path.join(smoke_run, 'plots', 'episodes_vs_n.png')) > 1000
  # Every comparison row got a Holm-adjusted p no smaller than its raw p.
  for c in an['comparisons']:
    raw = c['log10']['student']['p'] if 'log10' in c else c['logrank']['p']
    assert c['holm_p'] is None or raw is None or c['holm_p'] >= raw - 1e-12


def test_report_only_rebuilds_from_results_without_training(smoke_run, tmp_path):
  import shutil

  work = tmp_path / 'copy'
  shutil.copytree(smoke_run, work)
  os.remove(work / 'report.md')
  shutil.rmtree(work / 'plots')
  runner.TRACE_COUNTS.clear()
  out = runner.run(load_config(), str(work), report_only=True, quiet=True)
  assert out.status == 'reported' and runner.TRACE_COUNTS == {}
  assert (work / 'report.md').read_text() == open(os.path.join(smoke_run, 'report.md')).read()
  assert (work / 'plots' / 'episodes_vs_n.png').exists()
