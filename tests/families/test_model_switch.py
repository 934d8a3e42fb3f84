"""Family I (model switching vs continued training, ROI) on the smoke config: run shape, exact invariants,
the cost model, bad input, the ratio's instability, and the report."""

import os

import numpy as np
import pytest
from conftest import complete_run, load_config, read_results

from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import model_switch

SPEC = 'configs/model_switch.py:smoke'


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
  return complete_run(tmp_path_factory, SPEC)


def test_one_run_per_option_and_seed(smoke):
  cfg = load_config(SPEC)
  runs = read_results(smoke)['runs']
  by_arm = {}
  for r in runs:
    by_arm[r['arm']] = by_arm.get(r['arm'], 0) + 1
  assert by_arm == {
    'pretrain': cfg.num_seeds,
    'continue': len(cfg.continue_steps) * cfg.num_seeds,
    'switch': len(cfg.zoo_widths) * len(cfg.switch_steps) * cfg.num_seeds,
  }


def test_every_option_spends_exactly_its_budget_from_the_same_decision_point(smoke):
  runs = read_results(smoke)['runs']
  acc0 = {}
  for r in runs:
    if r['arm'] == 'pretrain':
      acc0[r['seed']] = r['metrics']['first_acc']
  for r in runs:
    if r['arm'] == 'pretrain':
      continue
    m = r['metrics']
    budget = r['grid']['k'] if r['arm'] == 'continue' else r['grid']['budget']
    assert r['status'] == 'ok' and m['steps'] == budget and m['steps_to_done'] == budget
    assert m['acc0'] == pytest.approx(acc0[r['seed']], abs=1e-6)  # the first choice at the decision point
    assert m['delta'] == pytest.approx(m['acc'] - m['acc0'], abs=1e-6)
    if r['arm'] == 'switch':
      assert m['inactive_max_abs'] == 0.0  # masked hidden units never move


def test_cost_model_is_deterministic_flops(smoke):
  cfg = load_config(SPEC)
  an = read_results(smoke)['analysis']
  for o in an['options'].values():
    if o['arm'] == 'continue':
      macs = cfg.input_dim * cfg.num_classes
    else:
      macs = cfg.input_dim * o['width'] + o['width'] * cfg.num_classes
    assert o['gflop'] == pytest.approx(o['steps'] * 6 * cfg.batch_size * macs / 1e9, rel=1e-9)
    assert o['gflop_with_pretrain'] >= o['gflop']
    if o['arm'] == 'switch' and o['recipe'] == 'scratch':
      assert o['gflop_with_pretrain'] == o['gflop']


@pytest.mark.parametrize(
  'key,value',
  [
    ('continue_steps', ()),
    ('continue_steps', (0, 10)),
    ('switch_steps', (-5,)),
    ('switch_steps', (10, 999)),
    ('zoo_widths', ()),
    ('zoo_recipes', ('related',)),
    ('zoo_recipes', ('related', 'magic')),
  ],
)
def test_bad_budgets_and_empty_zoo_raise_config_error_before_anything_is_written(tmp_path, key, value):
  cfg = load_config(SPEC, **{key: value})
  wd = tmp_path / 'w'
  with pytest.raises(ConfigError) as e:
    runner.prepare(cfg, str(wd))
  assert e.value.key == key
  assert not wd.exists()


def test_ratio_of_rois_is_unbounded_when_the_training_gain_is_near_zero():
  rng = np.random.default_rng(0)
  switch = 20 + rng.standard_normal(10)
  safe = model_switch.ratio_boot(switch, 2 + 0.3 * rng.standard_normal(10), 500, 0)
  assert safe['frac_den_le_0'] == 0 and 5 < safe['ci95'][0] < safe['ratio'] < safe['ci95'][1] < 20
  shaky = model_switch.ratio_boot(switch, 0.1 + rng.standard_normal(10), 500, 0)
  assert shaky['frac_den_le_0'] > 0.05 and shaky['ci95'][1] == float('inf')


def test_analysis_and_report_sections(smoke):
  res = read_results(smoke)
  h = res['analysis']['headline']
  assert set(h) >= {'finding', 'claim', 'result', 'effect', 'verdict', 'reproduced'}
  report = open(os.path.join(smoke, 'report.md')).read()
  for section in (
    '| option | params | steps | cost GFLOP |',
    '## Claimed vs measured',
    '## The ratio depends',
    '## Audit',
    '## Verdict',
    '](plots/gain_vs_cost.png)',
  ):
    assert section in report
  assert os.path.getsize(os.path.join(smoke, 'plots', 'gain_vs_cost.png')) > 1000
