"""Family F (capacity cliff) on the smoke config: run shape, exact invariants, bad input, analysis, report."""

import os

import numpy as np
import pytest
from conftest import complete_run, load_config, read_results

from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import capacity_cliff
from models.masked import active_params

SPEC = 'configs/capacity_cliff.py:smoke'


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
  return complete_run(tmp_path_factory, SPEC)


def test_one_run_per_width_and_seed_with_all_metrics(smoke):
  cfg = load_config(SPEC)
  runs = read_results(smoke)['runs']
  assert len(runs) == len(cfg.widths) * cfg.num_seeds
  assert {(r['grid']['width'], r['seed']) for r in runs} == {
    (w, s) for w in cfg.widths for s in range(cfg.num_seeds)
  }
  for r in runs:
    assert r['arm'] == 'gru' and r['status'] == 'ok'
    m = r['metrics']
    assert set(m) >= {'exact', 'success', 'token_acc', 'exact_by_depth', 'count_by_depth', 'inactive_max_abs'}
    assert len(m['exact_by_depth']) == cfg.max_depth


def test_exact_invariants(smoke):
  cfg = load_config(SPEC)
  runs = read_results(smoke)['runs']
  counts = {}
  for r in runs:
    m = r['metrics']
    assert m['inactive_max_abs'] == 0.0  # masked units never move: a genuine width-w model
    assert m['exact'] <= m['success'] + 1e-7  # the minimal closing is one of the successes
    assert sum(m['count_by_depth']) == cfg.eval_batch
    # success by depth recombines into the overall exact success
    rec = sum((v or 0.0) * c for v, c in zip(m['exact_by_depth'], m['count_by_depth'])) / cfg.eval_batch
    assert rec == pytest.approx(m['exact'], abs=1e-6)
    counts.setdefault(r['seed'], set()).add(tuple(m['count_by_depth']))
  assert all(len(v) == 1 for v in counts.values())  # every width of a seed sees the same held-out set
  an = read_results(smoke)['analysis']
  for w in cfg.widths:
    assert an['per_width'][str(w)]['params'] == 3 * w * w + 4 * 7 * w + 4 * w + 7 == active_params(w, 7)


def test_widths_of_a_seed_share_data_and_init_draws():
  import jax
  import jax.numpy as jnp

  cfg = load_config(SPEC)
  arm = capacity_cliff.build(cfg).arms[0]
  key = runner.seed_key(0, 1)
  init = jax.jit(arm.init)  # width traced: one compile for both
  a = init(key, {'width': jnp.int32(4)})
  b = init(key, {'width': jnp.int32(16)})
  assert np.array_equal(jax.random.key_data(a['eval_key']), jax.random.key_data(b['eval_key']))
  # the same normal draws, scaled by 1/sqrt(width) for the recurrent weights; units >= width are zero
  wa, wb = np.asarray(a['params']['w_h']), np.asarray(b['params']['w_h'])
  assert np.allclose(wa[:4, :, :4] * np.sqrt(4), wb[:4, :, :4] * np.sqrt(16), atol=1e-6)
  assert not wa[4:].any() and not wa[:, :, 4:].any()


@pytest.mark.parametrize(
  'overrides', [dict(widths=()), dict(widths=(0, 4)), dict(widths=(4, 17)), dict(widths=(4, 4))]
)
def test_bad_widths_raise_config_error_before_anything_is_written(tmp_path, overrides):
  cfg = load_config(SPEC, **overrides)
  wd = tmp_path / 'w'
  with pytest.raises(ConfigError) as e:
    runner.prepare(cfg, str(wd))
  assert e.value.key == 'widths'
  assert not wd.exists()


def test_other_bad_values(tmp_path):
  for key, value in (('max_hidden', 0), ('p_open', 1.0), ('max_depth', 99), ('n_boot', -1), ('lr', 0.0)):
    cfg = load_config(SPEC, **{key: value})
    with pytest.raises(ConfigError) as e:
      runner.prepare(cfg, str(tmp_path / 'w'))
    assert e.value.key in (key, 'widths')


def _synthetic_runs(curve, widths=(1, 2, 3, 4, 6, 8, 12, 18, 27, 40, 60), seeds=6, md=3, noise=0.02):
  rng = np.random.default_rng(0)
  runs = []
  for w in widths:
    x = np.log10(active_params(w, 7))
    for s in range(seeds):
      e = float(np.clip(curve(x) + noise * rng.standard_normal(), 0, 1))
      runs.append(
        {
          'arm': 'gru',
          'seed': s,
          'grid': {'width': w},
          'status': 'ok',
          'metrics': {
            'exact': e,
            'success': e,
            'token_acc': e ** (1 / 3),
            'mean_target_len': 3.0,
            'exact_by_depth': [e] * md,
            'count_by_depth': [10] * md,
            'inactive_max_abs': 0.0,
          },
        }
      )
  return runs


def test_analysis_tells_a_cliff_from_a_gradual_rise():
  cfg = load_config(SPEC, n_boot=50, max_depth=3)
  step = capacity_cliff.analyze(_synthetic_runs(lambda x: 0.4 + 0.55 * (x > 2.5)), cfg)
  assert step['headline']['reproduced'] is True
  assert step['fits']['exact']['width_10_90'] < 0.5
  assert step['fits']['exact']['lower'] == pytest.approx(0.4, abs=0.05)
  ramp = capacity_cliff.analyze(_synthetic_runs(lambda x: 0.1 + 0.35 * (x - 1.6)), cfg)
  assert ramp['headline']['reproduced'] is False


def test_analysis_and_report_sections(smoke):
  res = read_results(smoke)
  h = res['analysis']['headline']
  assert set(h) >= {'finding', 'claim', 'result', 'effect', 'verdict', 'reproduced'}
  report = open(os.path.join(smoke, 'report.md')).read()
  for section in (
    '| width | active params |',
    '## Claimed vs measured',
    '## Threshold fits',
    '## Exact success by prefix depth',
    '## Audit',
    '## Verdict',
    '](plots/cliff.png)',
  ):
    assert section in report
  assert os.path.getsize(os.path.join(smoke, 'plots', 'cliff.png')) > 1000
