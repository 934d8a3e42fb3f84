"""Family F (capacity cliff): run shape and exact invariants on the smoke config, bad input, and the findings
(cliff, metric mirage) on synthetic run records: every status, every check's wording, the fixed defects."""

import os

import numpy as np
import pytest
import records_capacity_cliff as R
from conftest import ROOT, complete_run, load_config, read_results

from exp.analysis import findings as F
from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import capacity_cliff
from exp.families.capacity_cliff import analysis as cc_analysis
from exp.families.capacity_cliff import report as cc_report
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
  'overrides',
  [
    dict(widths=()),
    dict(widths=(0, 1, 2, 4, 8)),
    dict(widths=(1, 2, 4, 8, 17)),
    dict(widths=(1, 2, 4, 4, 8)),
    dict(widths=(1, 4, 16)),  # fewer than 5 widths: no 4PL fit
  ],
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


def _analyze(runs, **overrides):
  cfg = load_config(SPEC, **{'n_boot': 20, 'n_boot_seeds': 10, 'max_depth': 3, **overrides})
  return capacity_cliff.analyze(runs, cfg)


def _creep(x):  # a step at 2.5 followed by a slow creep: sharp 4PL, but 95% only near the top
  return 0.3 + 0.6 * (x > 2.5) + 0.07 * max(0.0, x - 2.5) / 1.6


SCENARIOS = {
  'step': lambda: R.runs(R.step(), depth_shift=(-0.5, 0.0, 0.5)),
  'ramp': lambda: R.runs(R.ramp()),
  'creep': lambda: R.runs(_creep),
  'mirage': lambda: R.runs(R.step(), token=R.ramp(0.3, 0.3), inactive=0.7),
  'flat': lambda: R.runs(lambda x: 0.0, noise=0.0),
}
_CACHE = {}


def scenario(name):
  if name not in _CACHE:
    _CACHE[name] = _analyze(SCENARIOS[name]())
  return _CACHE[name]


def found(an, name):
  return next(f for f in an['findings'] if f['name'] == name)


def checked(an, finding, name):
  return next(c for c in found(an, finding)['checks'] if c['name'] == name)


def assert_worded(f):
  """Each check's text is its wording for its outcome, with its numbers filled in."""
  assert f['checks']
  for c in f['checks']:
    word = c['wordings'][{True: 'yes', False: 'no', None: 'inconclusive'}[c['outcome']]]
    nums = {k: F.render_number(v, c['kinds'].get(k)) for k, v in c['numbers'].items()}
    assert c['text'] == word.format(**nums)


@pytest.mark.parametrize(
  'name, cliff, mirage',
  [
    ('step', 'reproduced', 'reproduced'),
    ('ramp', 'not reproduced', None),
    ('creep', 'partly', 'reproduced'),
    ('mirage', 'reproduced', 'not reproduced'),
    ('flat', 'inconclusive', 'inconclusive'),
  ],
)
def test_findings_status_and_wording(name, cliff, mirage):
  an = scenario(name)
  assert [f['name'] for f in an['findings']] == ['cliff', 'mirage']
  assert found(an, 'cliff')['status'] == cliff
  if mirage is not None:
    assert found(an, 'mirage')['status'] == mirage
  for f in an['findings']:
    assert_worded(f)
  assert an['headline'] == F.headline_of(an['findings'][0])


def test_cliff_checks_read_the_numbers():
  step, ramp, creep = scenario('step'), scenario('ramp'), scenario('creep')
  assert checked(step, 'cliff', 'step')['outcome'] is True
  assert step['fits']['exact']['width_10_90'] < 0.5
  assert checked(ramp, 'cliff', 'step')['outcome'] is False
  assert checked(ramp, 'cliff', 'span')['outcome'] is False
  assert checked(creep, 'cliff', 'step')['outcome'] is True  # sharp 4PL ...
  assert checked(creep, 'cliff', 'span')['outcome'] is False  # ... but 95% only near the top
  # the headline effect: exact success at the widths bracketing the fitted centre, paired by seed
  e, pair = found(step, 'cliff')['effect'], step['pair']
  assert pair['rule'] == 'widths bracketing the 4PL centre'
  assert e['value'] == pytest.approx(np.mean(np.subtract(pair['a_values'], pair['b_values'])))
  assert e['value'] > 0.5 and found(step, 'cliff')['seeds']['paired'] is True


def test_fit_failure_is_an_explicit_inconclusive_outcome():
  an = scenario('flat')  # constant exact success: the 4PL has no threshold
  c = checked(an, 'cliff', 'step')
  assert c['outcome'] is None and c['text'].startswith('the 4PL fit of exact success failed')
  assert 'constant' in c['numbers']['fit']
  row = cc_report._fit_row('exact success', an['fits']['exact'])
  assert row[1].startswith('fit failed') and set(row[2:]) == {'–'}


def test_power_of_smooth_metric_check_fails_on_a_large_gap():
  # per-token accuracy rises smoothly while exact success steps: acc^L misses exact success by far
  an = scenario('mirage')
  c = checked(an, 'mirage', 'power_of_smooth')
  assert c['numbers']['max_gap'] > 0.5 > c['numbers']['tol']
  assert c['outcome'] is False and 'does not behave like a power' in c['text']
  assert checked(scenario('step'), 'mirage', 'power_of_smooth')['outcome'] is True


def test_masked_check_fails_when_masked_parameters_move():
  c = checked(scenario('mirage'), 'cliff', 'masked')  # inactive_max_abs 0.7
  assert c['numbers']['max_abs'] == pytest.approx(0.7)
  assert c['outcome'] is False and 'not genuine models' in c['text']
  assert checked(scenario('step'), 'cliff', 'masked')['outcome'] is True


def test_depth_check_needs_separated_centre_cis():
  equal = checked(scenario('creep'), 'cliff', 'depth')  # every depth has the same curve
  assert equal['outcome'] is None
  shifted = checked(scenario('step'), 'cliff', 'depth')
  assert shifted['outcome'] is True
  assert shifted['numbers']['deep_ci'][0] > shifted['numbers']['shallow_ci'][1]


def test_threshold_fits_bootstrap_whole_seeds_with_rate_bounds(monkeypatch):
  calls = []
  real = cc_analysis.stats.logistic_threshold

  def spy(x, y, **kw):
    calls.append(kw)
    return real(x, y, **kw)

  monkeypatch.setattr(cc_analysis.stats, 'logistic_threshold', spy)
  _analyze(R.runs(lambda x: 0.0, noise=0.0, seeds=3))
  assert calls and all(kw['bounds'] == (0.0, 1.0) for kw in calls)
  pooled = [kw['groups'] for kw in calls if np.size(kw.get('groups')) == 3 * len(R.WIDTHS)]
  assert pooled and all(sorted(set(g.tolist())) == [0, 1, 2] for g in pooled)


def test_rate_fit_asymptotes_stay_in_the_unit_interval():
  fe = scenario('ramp')['fits']['exact']  # unbounded, this ramp's 4PL asymptotes are −0.35 and 1.27
  assert 0.0 <= fe['lower'] <= fe['upper'] <= 1.0


def test_scatter_leaves_out_non_finite_values():
  pw = {'1': {'log10_params': 1.6, 'values': {'exact': [0.1, float('nan'), None, 0.3]}}}
  x, y = cc_report.scatter_points(pw, [1], 'exact')
  assert y.tolist() == [0.1, 0.3] and x.tolist() == [1.6, 1.6]


def test_config_docstring_states_ten_seeds():
  doc = open(os.path.join(ROOT, 'configs', 'capacity_cliff.py')).read()
  assert 'measured, seed 0' not in doc and 'measured, 10 seeds' in doc


def test_smoke_report_sections(smoke):
  res = read_results(smoke)
  assert [f['name'] for f in res['analysis']['findings']] == ['cliff', 'mirage']
  for f in res['analysis']['findings']:
    assert_worded(f)
  report = open(os.path.join(smoke, 'report.md')).read()
  for section in (
    '| width | active params |',
    '## Claimed vs measured',
    '## Threshold fits',
    '## Exact success by prefix depth',
    '## Findings',
    '## Is ten enough?',
    'seeds for 80% power |',
    'training budget',
    '](plots/cliff.png)',
    '](plots/ten_enough.png)',
  ):
    assert section in report
  assert '## Verdict' not in report and '## Audit' not in report
  assert os.path.getsize(os.path.join(smoke, 'plots', 'cliff.png')) > 1000
