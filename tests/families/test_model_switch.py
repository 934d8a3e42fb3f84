"""Family I (model switching vs continued training, ROI): the smoke run (run shape, exact invariants, the
cost model, the report), bad input, the ratio's instability, and the findings on synthetic records
(records_model_switch.py; no training) driven to each status."""

import os

import numpy as np
import pytest
from conftest import complete_run, load_config, read_results
from records_model_switch import make_runs

from exp.analysis import stats
from exp.analysis.findings import OUTCOME_WORD, render_number
from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import model_switch
from exp.families.model_switch import analysis, report

SPEC = 'configs/model_switch.py:smoke'
FULL = 'configs/model_switch.py'


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
    ('teacher_neg_slope', 1.5),
  ],
)
def test_bad_budgets_and_empty_zoo_raise_config_error_before_anything_is_written(tmp_path, key, value):
  cfg = load_config(SPEC, **{key: value})
  wd = tmp_path / 'w'
  with pytest.raises(ConfigError) as e:
    runner.prepare(cfg, str(wd))
  assert e.value.key == key
  assert not wd.exists()


@pytest.mark.parametrize('value', ['0.5', None])
def test_teacher_neg_slope_must_be_a_number(tmp_path, value):
  """A non-number is a ConfigError naming the key (it was a TypeError from the range comparison)."""
  cfg = load_config(SPEC)
  with cfg.ignore_type():
    cfg.teacher_neg_slope = value
  with pytest.raises(ConfigError) as e:
    runner.prepare(cfg, str(tmp_path / 'w'))
  assert e.value.key == 'teacher_neg_slope'


def test_ratio_of_rois_is_unbounded_when_the_training_gain_is_near_zero():
  rng = np.random.default_rng(0)
  switch = 20 + rng.standard_normal(10)
  safe = model_switch.ratio_boot(switch, 2 + 0.3 * rng.standard_normal(10), 500, 0)
  assert safe['frac_den_le_0'] == 0 and 5 < safe['ci95'][0] < safe['ratio'] < safe['ci95'][1] < 20
  shaky = model_switch.ratio_boot(switch, 0.1 + rng.standard_normal(10), 500, 0)
  assert shaky['frac_den_le_0'] > 0.05 and shaky['ci95'][1] == float('inf')


def test_report_sections_and_findings_on_the_smoke_run(smoke):
  res = read_results(smoke)
  an = res['analysis']
  assert [f['name'] for f in an['findings']] == ['switch_vs_training', 'smaller_beats_larger']
  assert an['headline']['finding'] == an['findings'][0]['title']
  assert an['headline']['status'] == an['findings'][0]['status']
  text = open(os.path.join(smoke, 'report.md')).read()
  for section in (
    '| option | params | steps | cost GFLOP |',
    '## Claimed vs measured',
    '## Findings',
    '## Is ten enough?',
    '| seeds for 80% power |',
    '](plots/gain_vs_cost.png)',
    '](plots/halfwidth_by_seeds.png)',
  ):
    assert section in text
  for f in an['findings']:
    assert f'### {f["title"]}: {f["status"]}' in text
    for c in f['checks']:
      assert c['text'] in text
  assert os.path.getsize(os.path.join(smoke, 'plots', 'gain_vs_cost.png')) > 1000


# ---------------------------------------------------------------------------------------------------
# Findings on synthetic records


def _config(**overrides):
  return load_config(FULL, **dict({'n_boot': 200}, **overrides))


def _analyze(cfg, **kw):
  return analysis.analyze(make_runs(cfg, **kw), cfg)


def _finding(an, name):
  return next(f for f in an['findings'] if f['name'] == name)


def _check(f, name):
  return next(c for c in f['checks'] if c['name'] == name)


def _assert_texts(an):
  """Every check's text is its wording for its outcome, with its numbers."""
  for f in an['findings']:
    for c in f['checks']:
      wording = c['wordings'][OUTCOME_WORD[c['outcome']]]
      nums = {k: render_number(v, c['kinds'].get(k)) for k, v in c['numbers'].items()}
      assert c['text'] == wording.format(**nums), (f['name'], c['name'])


def _outcomes(f):
  return {c['name']: c['outcome'] for c in f['checks'] if c['role'] == 'claim'}


def _report(an, cfg, tmp_path):
  import json

  an = json.loads(json.dumps(an))  # as the runner hands it over: after the results.json round trip
  return report.make_report(an, [], None, cfg, str(tmp_path))


CHEAP_SWITCH_WINS = {'continue': 1.0, 'switch:related-32@50': 20.0, 'switch': 10.0}


def test_switch_finding_reproduced():
  cfg = _config()
  an = _analyze(cfg, gains=CHEAP_SWITCH_WINS, sd={'continue@50': 0.2, 'continue@200': 0.2})
  f = _finding(an, 'switch_vs_training')
  assert an['ratios']['gflop']['frac_den_le_0'] == 0
  assert _outcomes(f) == {'switch_gains': True, 'gain': True, 'roi': True, 'ratio': True}
  assert f['status'] == 'reproduced'
  assert f['effect']['value'] > 0 and f['seeds']['paired'] and f['seeds']['n_a'] == cfg.num_seeds
  _assert_texts(an)


def test_switch_finding_not_reproduced_when_switching_hurts():
  cfg = _config()
  an = _analyze(cfg, gains={'continue': 10.0, 'switch': -3.0})
  f = _finding(an, 'switch_vs_training')
  assert _outcomes(f) == {'switch_gains': False, 'gain': False, 'roi': False, 'ratio': False}
  assert f['status'] == 'not reproduced' and an['headline']['reproduced'] is False
  _assert_texts(an)


def test_switch_finding_partly_in_the_measured_world():
  """The full config's world: the switch gains far more, but its ROI is not clearly above training's."""
  cfg = _config()
  an = _analyze(cfg, gains=dict(CHEAP_SWITCH_WINS, **{'continue': 5.0}))
  f = _finding(an, 'switch_vs_training')
  out = _outcomes(f)
  assert out['switch_gains'] is True and out['gain'] is True and out['roi'] is False and out['ratio'] is False
  assert f['status'] == 'partly'
  _assert_texts(an)


def test_size_finding_reproduced_not_reproduced_and_inconclusive():
  cfg = _config()
  f = _finding(_analyze(cfg), 'smaller_beats_larger')
  assert f['status'] == 'reproduced' and _check(f, 'smaller_wins')['numbers']['small'] == 'related-32@50'
  assert _check(f, 'recipe')['outcome'] is True  # the wins are across recipes only

  bigger_wins = {'continue': 1.0, 'switch': 20.0, 'switch:related-32@50': 5.0, 'switch:related-32@200': 5.0}
  bigger_wins.update({'switch:scratch-32@50': 5.0, 'switch:scratch-32@200': 5.0})
  an = _analyze(cfg, gains=bigger_wins)
  f = _finding(an, 'smaller_beats_larger')
  assert f['status'] == 'not reproduced' and _check(f, 'recipe')['outcome'] is None
  _assert_texts(an)

  same_size = _config(zoo_widths=(32, 32), zoo_recipes=('related', 'scratch'))
  an = _analyze(same_size, gains={'continue': 1.0, 'switch': 10.0})
  f = _finding(an, 'smaller_beats_larger')
  assert an['comparisons']['size'] == [] and f['status'] == 'inconclusive' and f['seeds'] is None
  _assert_texts(an)


# ---------------------------------------------------------------------------------------------------
# Defects fixed with the findings


def test_holm_decides_on_the_paired_t_whose_ci_is_shown():
  """A large offset shared by every option of a seed hides a consistent 5-point edge from the pooled
  Student t; the paired t (whose CI the tables show) finds it, and Holm is over the paired p."""
  cfg = _config()
  gains = {'continue': 1.0, 'switch': 0.0, 'switch:related-32@50': 6.0}
  an = _analyze(cfg, gains=gains, sd=0.3, shared_sd=20.0)
  for fam in an['comparisons'].values():
    assert [c['holm_p'] for c in fam] == pytest.approx(stats.holm([c['cmp']['paired']['p'] for c in fam]))
  row = next(c for c in an['comparisons']['gain'] if c['a'] == an['best_switch'])
  assert row['cmp']['student']['p'] > 0.05 and row['holm_p'] < 0.05
  assert _check(_finding(an, 'switch_vs_training'), 'gain')['outcome'] is True


def test_ceiling_is_a_check_on_the_numbers_it_quotes(tmp_path):
  cfg = _config()
  flat = _analyze(cfg, gains=CHEAP_SWITCH_WINS, sd=0.3)
  assert _check(_finding(flat, 'switch_vs_training'), 'ceiling')['outcome'] is True
  assert 'near its own ceiling' in _report(flat, cfg, tmp_path)
  climbing = dict(CHEAP_SWITCH_WINS, **{'continue@50': 1.0, 'continue@200': 5.0, 'continue@800': 12.0})
  climbing['continue@3200'] = 25.0
  an = _analyze(cfg, gains=climbing, sd=0.3)
  c = _check(_finding(an, 'switch_vs_training'), 'ceiling')
  assert c['outcome'] is False and c['numbers']['extra'] > c['numbers']['margin']
  assert 'near its own ceiling' not in _report(an, cfg, tmp_path)


def test_denominator_sentence_is_a_check_on_the_numbers_it_quotes(tmp_path):
  cfg = _config()
  saturating = _analyze(cfg, gains=CHEAP_SWITCH_WINS, sd=0.2)
  c = _check(_finding(saturating, 'switch_vs_training'), 'denominator_choice')
  assert c['outcome'] is True and c['numbers']['spread'] > c['numbers']['ci_spread']
  assert 'mostly reflects' in _report(saturating, cfg, tmp_path)
  # training gain proportional to its cost: every attempt has the same ROI, so the denominator hardly matters
  # (the switch's noise sets the headline ratio's CI; every ratio shares that numerator)
  linear = dict(CHEAP_SWITCH_WINS, **{f'continue@{k}': 0.02 * k for k in cfg.continue_steps})
  an = _analyze(
    cfg, gains=linear, sd={'switch:related-32@50': 5.0, **{f'continue@{k}': 0.05 for k in cfg.continue_steps}}
  )
  c = _check(_finding(an, 'switch_vs_training'), 'denominator_choice')
  assert c['outcome'] is False and c['numbers']['spread'] < c['numbers']['ci_spread']
  assert 'mostly reflects' not in _report(an, cfg, tmp_path)


def test_no_bootstrap_says_so_instead_of_a_nan_fraction(tmp_path):
  r = model_switch.ratio_boot(np.arange(1.0, 6.0), np.ones(5), 0, 0)
  assert r['frac_den_le_0'] is None and r['n_boot'] == 0 and r['ratio'] == pytest.approx(3.0)
  cfg = _config(n_boot=0)
  an = _analyze(cfg)
  text = _report(an, cfg, tmp_path)
  assert 'nan' not in text and '–%' not in text and '% of resamples' not in text
  assert 'no bootstrap: n_boot 0' in text
  assert _check(_finding(an, 'switch_vs_training'), 'ratio')['outcome'] is None
  _assert_texts(an)


def _claimed_table(text):
  block = text.split('## Claimed vs measured', 1)[1].split('\n## ', 1)[0]
  rows = [r for r in block.splitlines() if r.startswith('| ') and not r.startswith('| quantity')]
  return [[x.strip() for x in r.strip('|').split(' | ')] for r in rows]


def test_claimed_vs_measured_says_when_units_differ(tmp_path):
  cfg = _config()
  rows = _claimed_table(_report(_analyze(cfg), cfg, tmp_path))
  assert rows
  for quantity, claimed, _ours, same in rows:
    if '%/min' in claimed:
      assert same.startswith('no'), quantity
    else:
      assert same.startswith('yes'), quantity


def test_size_row_and_size_finding_quote_the_pair_one_rule_picks(tmp_path):
  """A noisy, non-significant edge over a much larger model must not be quoted over a significant win."""
  cfg = _config(zoo_widths=(8, 32, 144), zoo_recipes=('related', 'unrelated', 'scratch'))
  gains = {'continue': 1.0, 'switch': 10.0, 'switch:related-8@50': 14.0, 'switch:related-8@200': 14.0}
  gains.update({'switch:unrelated-32@50': 20.0, 'switch:unrelated-32@200': 20.0})
  sd = {f'switch:related-8@{b}': 10.0 for b in cfg.switch_steps}
  an = _analyze(cfg, gains=gains, sd=dict(sd, **{'switch:unrelated-32@50': 0.5}))
  size = an['comparisons']['size']
  noisy = [
    c for c in size if c['a'].startswith('switch:related-8') and c['b'].startswith('switch:scratch-144')
  ]
  assert all(c['cmp']['mean_diff'] > 0 and c['holm_p'] >= 0.05 for c in noisy)  # the old rule's pick
  pick = size[an['size_pick']]
  assert analysis.size_win(pick, analysis.ALPHA) and pick['a'].startswith('switch:unrelated-32')
  f = _finding(an, 'smaller_beats_larger')
  small = _check(f, 'smaller_wins')['numbers']['small']
  row = next(r for r in _claimed_table(_report(an, cfg, tmp_path)) if r[0].startswith('a smaller model'))
  assert row[2].startswith(f'{small} − ') and f['status'] == 'reproduced'
