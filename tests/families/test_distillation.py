"""Family C (hybrid distillation collapse, context distillation) on the smoke config."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import complete_run, load_config, read_metrics, read_results
from records_distillation import default_metrics, make_runs

from exp.analysis import findings as F
from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import distillation
from exp.families.distillation import analysis

SPEC = 'configs/distillation.py:smoke'
# The in-process smoke run trains the pretraining stage and arm `context`; arm `size_gap` is the same step
# function with another student (test_size_gap_arm_traces), left out to keep this file's compiles short.
ARMS = ('context',)


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
  return complete_run(tmp_path_factory, SPEC, arms=ARMS)


def _lines(workdir, arm):
  """{(setup key, seed): {step: metrics}} from metrics.jsonl."""
  cfg = load_config(SPEC)
  out = {}
  for l in read_metrics(workdir):
    if l['arm'] == arm:
      out.setdefault((distillation.setup_key(l['grid'], cfg.num_steps), l['seed']), {})[l['step']] = l[
        'metrics'
      ]
  return out


def test_results_shape_and_headline(smoke):
  cfg = load_config(SPEC, arms=ARMS)
  res = read_results(smoke)
  assert res['experiment'] == 'distillation' and res['complete']
  n_setups = len(distillation.setups(cfg))
  n_lrs = len(distillation.sensitivity_lrs(cfg, 'context'))
  assert n_lrs == 2  # config.sensitivity_lrs (1e-3, 3e-3), both != lr 1e-2
  by_arm = {}
  for r in res['runs']:
    by_arm[r['arm']] = by_arm.get(r['arm'], 0) + 1
  assert by_arm == {
    'pretrain': cfg.num_seeds,
    'context': n_setups * cfg.num_seeds,
    'context_lrs': n_lrs * cfg.num_seeds,
  }
  an = res['analysis']
  assert [f['name'] for f in an['findings']] == ['collapse', 'spike', 'downstream']
  assert an['headline'] == json.loads(json.dumps(F.headline_of(an['findings'][0])))
  assert round(an['claim']['ratio_computed']) == 363  # 5.4453 / 0.015, not 361
  lrs = [r['lr'] for r in an['arms']['context']['lr_sensitivity']]
  assert lrs == [1e-3, 3e-3, 1e-2]
  for arm in ARMS:
    for c in an['arms'][arm]['comparisons']:  # Holm never lowers a p-value
      assert c['holm_p'] is None or c['holm_p'] >= c['cmp']['student']['p'] - 1e-12


def test_common_random_numbers_and_phase_invariants(smoke):
  """Setups of one seed share init and noise: they agree exactly until their losses differ."""
  cfg = load_config(SPEC)
  sw = cfg.switch_step
  for arm in ARMS:
    lines = _lines(smoke, arm)
    for seed in range(cfg.num_seeds):
      runs = {k: v for (k, s), v in lines.items() if s == seed}
      first = {k: v[0] for k, v in runs.items()}
      for m in ('kl_exact', 'kl_est', 'legal', 'rep'):  # step 0: every setup measures the same model
        assert len({first[k][m] for k in first}) == 1, (arm, m)
      hyb, off = runs['hybrid/shifted/exact'], runs['off_only/shifted']
      for t in range(sw):  # a hybrid is off-only until the switch
        assert hyb[t] == off[t]
      # Up to and including the switch step's measurement, the on-policy loss has not acted yet.
      for t in range(sw + 1):
        assert (
          runs['hybrid/unshifted/exact'][t]['kl_exact'] == runs['hybrid/unshifted/sampled'][t]['kl_exact']
        )
      for key, v in runs.items():
        for m in v.values():
          assert m['kl_exact'] >= 0
          if key.startswith('off_only'):  # the source logs the SFT loss off-policy
            assert m['source_log'] == m['loss']
          if key.startswith('on_only'):  # and the fresh estimate on-policy
            assert m['source_log'] == m['kl_est']


def test_spike_records_match_the_logged_steps(smoke):
  cfg = load_config(SPEC)
  sw = cfg.switch_step
  lines = _lines(smoke, 'context')
  res = read_results(smoke)
  for r in res['runs']:
    if r['arm'] != 'context':
      continue
    key = distillation.setup_key(r['grid'], cfg.num_steps)
    if not key.startswith('hybrid'):
      continue
    log = lines[(key, r['seed'])]
    np.testing.assert_allclose(r['metrics']['kl_pre'], log[sw - 1]['kl_exact'], rtol=1e-6)
    np.testing.assert_allclose(r['metrics']['kl_post'], log[sw]['kl_exact'], rtol=1e-6)
    np.testing.assert_allclose(r['metrics']['source_pre'], log[sw - 1]['loss'], rtol=1e-6)
    np.testing.assert_allclose(r['metrics']['source_post'], log[sw]['source_log'], rtol=1e-6)


def test_size_gap_arm_traces():
  """The size-gap student is a fresh, smaller model scored by the full-size teacher (shapes only: no compile)."""
  cfg = load_config(SPEC)
  exp = distillation.build(cfg)
  arm = next(a for a in exp.arms if a.name == 'size_gap')
  base = jax.eval_shape(lambda k: exp.pretrain_output(exp.pretrain.init(k, {})), jax.random.key(0))
  hp = {k: jnp.float32(v[0]) for k, v in arm.grid.items()}
  state = jax.eval_shape(lambda k: arm.init(k, hp, base), jax.random.key(1))
  size = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))
  assert size(state['params']) < size(state['teacher'])
  _, metrics = jax.eval_shape(lambda s, k: arm.step(s, hp, k), state, jax.random.key(2))
  assert set(metrics) == {'kl_exact', 'kl_est', 'kl_est_stale', 'source_log', 'legal', 'rep', 'loss'}


@pytest.mark.parametrize(
  'key, value',
  [
    ('temperature', 0.0),
    ('temperature', -1.0),
    ('seq_len', 7),
    ('divergence', 'kl'),
    ('schedules', ('hybrid', 'warmup')),
    ('sft_losses', ('shifted', 'copy')),
    ('switch_step', 8),
  ],
)
def test_bad_input_is_a_config_error_before_anything_is_written(tmp_path, key, value):
  cfg = load_config(SPEC, **{key: value})  # smoke: window 8, so seq_len 7 + 2 header tokens overflow it
  with pytest.raises(ConfigError) as e:
    runner.prepare(cfg, str(tmp_path / 'w'))
  assert e.value.key == key
  assert not os.path.exists(tmp_path / 'w')
  if key == 'divergence':
    assert 'accepted: forward_kl, jsd, reverse_kl' in str(e.value)


def test_lr_arm_runs_the_source_setup_at_each_lr(smoke):
  """Arm `context_lrs`: the source's setup with lr a grid axis; its step 0 is the main grid's."""
  cfg = load_config(SPEC)
  res = read_results(smoke)
  lr_runs = [r for r in res['runs'] if r['arm'] == 'context_lrs']
  assert {round(r['grid']['lr'], 6) for r in lr_runs} == {1e-3, 3e-3}
  assert all(distillation.setup_key(r['grid'], cfg.num_steps) == distillation.SOURCE_SETUP for r in lr_runs)
  first = {}  # another compiled program (batch size): equal up to float rounding
  for l in read_metrics(smoke):
    if l['step'] == 0 and l['arm'] in ('context', 'context_lrs'):
      first.setdefault(l['seed'], []).append((l['metrics']['legal'], l['metrics']['kl_exact']))
  for v in first.values():
    assert len({legal for legal, _ in v}) == 1
    np.testing.assert_allclose([kl for _, kl in v], v[0][1], rtol=1e-4)


def test_report_sections_and_plots(smoke):
  text = open(os.path.join(smoke, 'report.md')).read()
  for section in (
    '**write-up (claim)**',
    '363× (reported 361×)',
    'downstream: hybrid vs on-only',
    'power at g',
    'the spike: three measurements',
    'change points',
    "the source's setup at each learning rate",
    '## Findings',
    '## Is ten enough?',
    'plots/context_kl.png',
    'plots/context_legal.png',
    'plots/seeds_halfwidth.png',
  ):
    assert section in text, section
  for old in ('## Audit', '## Verdict', 'neither jumps nor collapses', 'does appear in the source'):
    assert old not in text, old
  for name in ('context_kl.png', 'context_legal.png', 'seeds_halfwidth.png'):
    assert os.path.getsize(os.path.join(smoke, 'plots', name)) > 1000
  res = read_results(smoke)
  json.dumps(res['analysis'], allow_nan=False)  # JSON-clean (no NaN)
  for f in res['analysis']['findings']:
    _assert_texts(f)


# ---------------------------------------------------------------------------------------------------
# Findings on synthetic records (no training): statuses, wordings and the review's defects

FULL = 'configs/distillation.py'
WORD = {True: 'yes', False: 'no', None: 'inconclusive'}


def _assert_texts(f):
  """Each check's text is its wording for its outcome, formatted with its numbers."""
  assert f['status'] == F.status_of(f['checks'])
  for c in f['checks']:
    want = c['wordings'][WORD[c['outcome']]].format(
      **{k: F.render_number(v, c['kinds'].get(k)) for k, v in c['numbers'].items()}
    )
    assert c['text'] == want, c['name']


def _findings(overrides=None, lr_spikes=None, **cfg_overrides):
  cfg = load_config(FULL, **cfg_overrides)
  an = analysis.analyze(make_runs(cfg, overrides, lr_spikes), cfg)
  for f in an['findings']:
    _assert_texts(f)
  return {f['name']: f for f in an['findings']}, an


def _checks(f):
  return {c['name']: c for c in f['checks']}


def _per_seed(key, seeds=10, **metric_fns):
  """{metric: [value per seed]} from the default metrics of ``key`` with fns applied."""
  base = [default_metrics(key, s, 50) for s in range(seeds)]
  return {m: [fn(b, s) for s, b in enumerate(base)] for m, fn in metric_fns.items()}


CORRECT = distillation.CORRECT_SETUP
SOURCE = distillation.SOURCE_SETUP
COLLAPSED = dict(
  kl_post=lambda b, s: b['kl_pre'] * 40 * (1 + 0.05 * (s % 3)),
  change_step=lambda b, s: 51 + s % 4,
  legal=lambda b, s: 0.05 + 0.01 * (s % 3),
)


def test_default_world_statuses():
  fs, an = _findings()
  assert fs['collapse']['status'] == 'not reproduced'
  assert fs['spike']['status'] == 'partly'  # a logged spike, but only at the tuned lr
  assert fs['downstream']['status'] == 'reproduced'
  assert an['headline']['status'] == 'not reproduced'
  assert fs['collapse']['seeds']['paired'] is True  # the headline effect pairs by seed
  assert fs['collapse']['effect']['value'] == pytest.approx(
    np.mean(
      np.subtract(*[an['arms']['context']['setups'][k]['legal_values'] for k in (CORRECT, 'on_only/exact')])
    )
  )


def test_collapse_reproduced_when_every_condition_holds():
  over = {(arm, CORRECT): _per_seed(CORRECT, **COLLAPSED) for arm in distillation.ARMS}
  fs, _ = _findings(over)
  assert fs['collapse']['status'] == 'reproduced'
  assert all(c['outcome'] is True for c in fs['collapse']['checks'])


def test_kl_jump_alone_is_partly_and_worded_on_its_own():
  """Defect: a fresh exact-KL jump of 40× [20, 80] still printed "neither jumps nor collapses"."""
  jump = _per_seed(CORRECT, kl_post=COLLAPSED['kl_post'])
  fs, _ = _findings({(arm, CORRECT): jump for arm in distillation.ARMS})
  c = _checks(fs['collapse'])
  assert c['context_kl_jump']['outcome'] is True
  assert 'jumps at the switch' in c['context_kl_jump']['text']
  assert c['context_collapse_at_switch']['outcome'] is False
  assert fs['collapse']['status'] == 'partly'
  assert not any('neither' in k['text'] for k in fs['collapse']['checks'])


def test_collapse_phase_counts_before_switch():
  """Defect: 5 before / 3 at / 2 later gave collapses_at_switch=True."""
  steps = [10, 11, 12, 13, 14, 52, 53, 54, 70, 80]  # 5 before step 50, 3 in 50–59, 2 later
  over = {('context', CORRECT): _per_seed(CORRECT, change_step=lambda b, s: steps[s])}
  fs, an = _findings(over, arms=('context',))
  ch = an['arms']['context']['setups'][CORRECT]['change']
  assert (ch['before_switch'], ch['at_switch'], ch['later'], ch['phase']) == (5, 3, 2, 'before_switch')
  c = _checks(fs['collapse'])['context_collapse_at_switch']
  assert c['outcome'] is False
  assert c['numbers']['before'] == 5 and c['numbers']['at'] == 3 and c['numbers']['later'] == 2


@pytest.mark.parametrize(
  'n_with, counts, phase',
  [
    (10, (5, 3, 2), 'before_switch'),
    (10, (2, 6, 2), 'at_switch'),
    (10, (4, 4, 2), None),  # a tie for the most
    (5, (0, 5, 0), None),  # exactly half collapse
    (4, (0, 4, 0), 'none'),  # a minority collapse
    (7, (1, 2, 4), 'later'),
  ],
)
def test_collapse_phase_rule(n_with, counts, phase):
  assert analysis.collapse_phase(n_with, 10, dict(zip(analysis.PHASES, counts))) == phase


def test_lr_sensitivity_says_where_the_spike_exceeds_the_threshold():
  """Defect: the tuned lr was only named in the config docstring; now a check over >= 2 lrs."""
  fs, _ = _findings(arms=('context',))
  c = _checks(fs['spike'])['context_lr_sensitivity']
  assert c['outcome'] is False and c['numbers']['above_at'] == 'lr 0.01' and c['numbers']['n_lrs'] == 3
  fs, _ = _findings(arms=('context',), lr_spikes={1e-3: 500.0, 3e-3: 800.0})
  c = _checks(fs['spike'])['context_lr_sensitivity']
  assert c['outcome'] is True and c['numbers']['above_at'] == 'lr 0.001, lr 0.003, lr 0.01'
  fs, _ = _findings(arms=('context',), sensitivity_lrs=())
  c = _checks(fs['spike'])['context_lr_sensitivity']
  assert c['outcome'] is None and c['numbers']['n_lrs'] == 1


def test_spike_numbers_are_the_source_setups():
  """Defect: the audit read the first unshifted hybrid's numbers and called them the source's log."""
  other = _per_seed('hybrid/unshifted/exact', source_post=lambda b, s: b['source_post'] * 50)
  fs, an = _findings({('context', 'hybrid/unshifted/exact'): other}, arms=('context',))
  geo = an['arms']['context']['setups'][SOURCE]['spikes']['source']['geo']
  for c in (_checks(fs['spike'])['context_logged_spike'],):
    assert c['numbers']['ratio'] == pytest.approx(geo['geo_mean'])
  exact_unshifted = an['arms']['context']['setups']['hybrid/unshifted/exact']['spikes']['source']['geo']
  assert exact_unshifted['geo_mean'] > 10 * geo['geo_mean']


def test_downstream_drop_is_a_check_not_a_sentence():
  """Defect: "the downstream drop does appear in the source's own setup" was printed unconditionally."""
  level = _per_seed(SOURCE, legal=lambda b, s: 0.95 + 0.01 * (s % 3))
  fs, _ = _findings({('context', SOURCE): level}, arms=('context',))
  c = _checks(fs['downstream'])['context_source_below']
  assert c['outcome'] is False and fs['downstream']['status'] == 'not reproduced'
  on_only = lambda s: default_metrics('on_only/sampled', s, 50)['legal']
  noisy = _per_seed(SOURCE, legal=lambda b, s: on_only(s) + (0.3 if s % 2 else -0.3) + 0.01 * (s % 3))
  fs, _ = _findings({('context', SOURCE): noisy}, arms=('context',))
  assert _checks(fs['downstream'])['context_source_below']['outcome'] is None
  assert fs['downstream']['status'] == 'inconclusive'


@pytest.mark.parametrize(
  'key, value',
  [('spike_threshold', None), ('change_drop', None), ('spike_threshold', 1.0), ('sensitivity_lrs', (0.0,))],
)
def test_thresholds_are_type_checked(tmp_path, key, value):
  """Defect: spike_threshold and change_drop were compared without a type check (None: a TypeError)."""
  with pytest.raises(ConfigError) as e:
    runner.prepare(load_config(SPEC, **{key: value}), str(tmp_path / 'w'))
  assert e.value.key == key
