"""Family E (constitutional DPO persona pipeline): the smoke config run to completion (shape, common random
numbers, phases on the step index, report), vmapped = alone, bad input, and the findings on synthetic run
records: every outcome of every check and every status."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import records_persona_dpo as R
from conftest import complete_run, load_config, read_metrics, read_results, run_cli

from exp.analysis import findings as F
from exp.analysis import stats
from exp.core import runner
from exp.core.experiment import ConfigError
from exp.families import persona_dpo
from exp.families.persona_dpo import analysis, program
from exp.families.persona_dpo.common import EVAL_METRICS, ORDERS, PHASE_CODE
from exp.tasks import persona as P

SPEC = 'configs/persona_dpo.py:smoke'
FULL = 'configs/persona_dpo.py'


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
  return complete_run(tmp_path_factory, SPEC)


def _by_order(res, cfg):
  out = {}
  for r in res['runs']:
    if r['arm'] == 'pipeline':
      out.setdefault(cfg.orders[int(r['grid']['order'])], {})[r['seed']] = r['metrics']
  return out


def test_results_shape_and_headline(smoke):
  cfg = load_config(SPEC)
  res = read_results(smoke)
  assert res['experiment'] == 'persona_dpo' and res['complete']
  arms = [r['arm'] for r in res['runs']]
  assert arms.count('pretrain') == cfg.num_seeds and arms.count('pipeline') == 4 * cfg.num_seeds
  m = next(r['metrics'] for r in res['runs'] if r['arm'] == 'pipeline')
  assert set(m) == {f'{k}_{i}' for k in EVAL_METRICS for i in range(4)}
  an = res['analysis']
  assert [f['name'] for f in an['findings']] == ['pipeline', 'order', 'components']
  assert an['headline'] == json.loads(json.dumps(F.headline_of(an['findings'][0])))
  json.dumps(an, allow_nan=False)


def test_orders_share_the_base_and_switch_phases_on_the_step(smoke):
  """Every order of a seed starts from the seed's base (snapshot 0 equal); orders with the same first
  phases agree exactly until they differ; the logged phase follows each order's table."""
  cfg = load_config(SPEC)
  by = _by_order(read_results(smoke), cfg)
  for seed in range(cfg.num_seeds):
    for m in EVAL_METRICS:
      assert len({by[o][seed][f'{m}_0'] for o in by}) == 1, m
      assert by['cited'][seed][f'{m}_1'] == by['dpo_only'][seed][f'{m}_1']  # both start with DPO
      for k in (1, 2):
        assert by['claimed'][seed][f'{m}_{k}'] == by['sft_only'][seed][f'{m}_{k}']
      assert by['dpo_only'][seed][f'{m}_3'] == by['dpo_only'][seed][f'{m}_1']  # idle after its phase
  for l in read_metrics(smoke):
    if l['arm'] != 'pipeline':
      continue
    order = cfg.orders[int(l['grid']['order'])]
    slot = l['step'] // cfg.phase_steps
    phases = ORDERS[order]
    want = PHASE_CODE[phases[slot]] if slot < len(phases) else 0
    assert l['metrics']['phase'] == want
    assert 0.0 <= l['metrics']['reward_acc'] <= 1.0


def test_report_sections_and_plots(smoke):
  text = open(os.path.join(smoke, 'report.md')).read()
  for s in (
    'Claimed vs measured',
    'RM-ANOVA',
    '## Findings',
    '## Is ten enough?',
    'g_av',
    'phases_align_nosys.png',
  ):
    assert s in text, s
  for name in ('phases_align_nosys.png', 'train_reward_acc.png', 'ten_enough.png'):
    assert os.path.getsize(os.path.join(smoke, 'plots', name)) > 1000


def test_vmapped_run_equals_the_run_alone():
  """Two runs (orders) of one seed stepped as a vmapped batch equal each stepped alone, across a phase
  switch. The base is built by hand (random parameters and pool): no pretraining to compile."""
  cfg = load_config(SPEC)
  exp = persona_dpo.build(cfg)
  arm = exp.arms[0]
  key = jax.random.key(3)
  d = program.dims(cfg)
  toks = lambda k, n: jax.random.randint(jax.random.key(k), (n, d.T), P.PERSONA0, d.vocab)
  base = {
    'params': program.init_params(program.model_of(cfg), key, d.T),
    'pool': toks(1, cfg.pool_batches * cfg.batch),
    'neutral': toks(2, cfg.eval_batch),
    'eval_query': jnp.zeros((cfg.eval_batch,), jnp.int32),
  }

  def run(hp):
    body = lambda s, t: (arm.step(s, hp, jax.random.fold_in(key, t))[0], None)
    state, _ = jax.lax.scan(body, arm.init(key, hp, base), jnp.arange(cfg.phase_steps + 1))
    return state['params']

  hps = {'order': jnp.array([0.0, 1.0])}
  batched = jax.jit(jax.vmap(run))(hps)
  alone = jax.jit(run)
  for i in range(2):
    one = alone({'order': hps['order'][i]})
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(batched)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b)[i], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
  'key, value',
  [
    ('beta', 0.0),
    ('beta', -0.1),
    ('orders', ('claimed', 'reversed')),
    ('response_len', 9),  # 4 prompt tokens + 9 > window 12
    ('num_steps', 13),
    ('follow', ((0.1, 0.2), (0.3, 0.4))),
  ],
)
def test_bad_input_is_a_config_error_before_anything_is_written(tmp_path, key, value):
  with pytest.raises(ConfigError) as e:
    runner.prepare(load_config(SPEC, **{key: value}), str(tmp_path / 'w'))
  assert e.value.key == key
  assert not os.path.exists(tmp_path / 'w')


def test_bad_beta_on_the_command_line_is_one_line_exit_2(tmp_path):
  w = tmp_path / 'w'
  p = run_cli(f'--config={SPEC}', f'--workdir={w}', '--config.beta=0')
  assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and 'beta' in p.stderr
  assert not w.exists()


# ---------------------------------------------------------------------------------------------------
# Findings on synthetic records (no training)

WORD = {True: 'yes', False: 'no', None: 'inconclusive'}


def _findings(overrides=None, **cfg_overrides):
  cfg = load_config(FULL, **cfg_overrides)
  an = analysis.analyze(R.make_runs(cfg, overrides), cfg)
  for f in an['findings']:
    assert f['status'] == F.status_of(f['checks'])
    for c in f['checks']:
      want = c['wordings'][WORD[c['outcome']]].format(
        **{k: F.render_number(v, c['kinds'].get(k)) for k, v in c['numbers'].items()}
      )
      assert c['text'] == want, c['name']
  return {f['name']: f for f in an['findings']}, an


def _checks(f):
  return {c['name']: c for c in f['checks']}


def _vals(mean, spread=0.01, n=10, salt=0):
  return [mean + R.jitter(s, salt, spread) for s in range(n)]


def _alt(mean, swing, n=10):
  """Values that swing ±swing around mean: a wide CI straddling it."""
  return [mean + (swing if s % 2 else -swing) + 0.001 * s for s in range(n)]


def test_default_world():
  fs, an = _findings()
  assert fs['pipeline']['status'] == 'reproduced'
  c = _checks(fs['pipeline'])
  assert c['capability_kept']['outcome'] is False  # the neutral-text NLL rises by ~0.84 nats
  assert c['diversity_kept']['outcome'] is True and c['phases_rm_anova']['outcome'] is True
  assert fs['pipeline']['seeds']['paired'] is True
  assert an['claim_rows'][0]['claimed'] == [0.57, 0.79]
  for r in an['claim_rows']:  # Holm never lowers a p-value
    assert r['holm_p'] >= r['cmp']['paired']['p'] - 1e-12


@pytest.mark.parametrize(
  'metric, base_key, value, outcome',
  [
    ('alignment_up', 'align_nosys_3', 0.4, False),  # trained below the base (0.54)
    ('alignment_up', 'align_nosys_3', None, None),
    ('high-alignment_up', 'high_nosys_3', 0.3, False),
    ('high-alignment_up', 'high_nosys_3', None, None),
    ('break_down', 'break_ign_3', 0.95, False),
    ('break_down', 'break_ign_3', None, None),
  ],
)
def test_claim_checks_each_outcome(metric, base_key, value, outcome):
  base_mean = {'align_nosys_3': 0.54, 'high_nosys_3': 0.51, 'break_ign_3': 0.84}[base_key]
  vals = _vals(value, 0.01) if value is not None else _alt(base_mean, 0.3)
  fs, _ = _findings({'claimed': {base_key: vals}})
  c = _checks(fs['pipeline'])[metric]
  assert c['outcome'] is outcome
  assert fs['pipeline']['status'] == ('partly' if outcome is False else 'inconclusive')


def test_pipeline_not_reproduced_when_every_claim_check_fails():
  over = {
    k: _vals(v, 0.01) for k, v in (('align_nosys_3', 0.3), ('high_nosys_3', 0.2), ('break_ign_3', 0.95))
  }
  over['survive_3'] = _vals(0.2)
  fs, _ = _findings({'claimed': over})
  assert fs['pipeline']['status'] == 'not reproduced'
  assert all(c['outcome'] is False for c in fs['pipeline']['checks'] if c['role'] == 'claim')


@pytest.mark.parametrize('values, outcome', [(_vals(0.9), True), (_vals(0.3), False), (_alt(0.5, 0.3), None)])
def test_survive_check(values, outcome):
  fs, _ = _findings({'claimed': {'survive_3': values}})
  c = _checks(fs['pipeline'])['survive']
  assert c['outcome'] is outcome and c['claimed'] == 0.84


@pytest.mark.parametrize(
  'name, key, values, outcome',
  [
    ('capability_kept', 'nll_neutral_3', _vals(1.45, 0.01), True),
    ('capability_kept', 'nll_neutral_3', _alt(1.5, 0.3), None),
    ('diversity_kept', 'div_nosys_3', _vals(0.02, 0.005), False),
    ('diversity_kept', 'div_nosys_3', _alt(0.1, 0.2), None),
  ],
)
def test_audit_checks_each_outcome(name, key, values, outcome):
  fs, _ = _findings({'claimed': {key: values}})
  c = _checks(fs['pipeline'])[name]
  assert c['outcome'] is outcome and c['role'] == 'audit'
  assert fs['pipeline']['status'] == 'reproduced'  # audits never change the status


def test_rm_anova_outcomes_and_hand_value():
  flat = {f'align_nosys_{k}': _vals(0.5, 0.01, salt=k) for k in range(4)}
  fs, an = _findings({'claimed': flat})
  assert _checks(fs['pipeline'])['phases_rm_anova']['outcome'] is False
  const = {f'align_nosys_{k}': [0.5 + 0.01 * s for s in range(10)] for k in range(4)}  # no residual
  fs, _ = _findings({'claimed': const})
  assert _checks(fs['pipeline'])['phases_rm_anova']['outcome'] is None
  # by hand: 3 seeds x 3 phases, F = MS_phase / MS_error
  y = np.array([[1.0, 2.0, 4.0], [2.0, 2.5, 5.0], [0.5, 2.0, 3.5]])
  n, k = y.shape
  ss_phase = n * np.sum((y.mean(0) - y.mean()) ** 2)
  ss_seed = k * np.sum((y.mean(1) - y.mean()) ** 2)
  ss_err = np.sum((y - y.mean()) ** 2) - ss_phase - ss_seed
  f = (ss_phase / (k - 1)) / (ss_err / ((k - 1) * (n - 1)))
  out = analysis.rm_anova(list(y.T))
  assert out['F'] == pytest.approx(f) and (out['df_num'], out['df_den']) == (2, 4)


def test_g_av_by_hand():
  """g_av (Lakens 2013): mean difference / average of the two SDs, times J = 1 − 3/(4(n − 1) − 1)."""
  a, b = np.array([0.9, 0.8, 0.95, 0.85]), np.array([0.5, 0.6, 0.55, 0.4])
  sd_av = (np.std(a, ddof=1) + np.std(b, ddof=1)) / 2
  j = 1 - 3 / (4 * 3 - 1)
  assert stats.compare(a, b, paired=True)['g_av'] == pytest.approx((a.mean() - b.mean()) / sd_av * j)


@pytest.mark.parametrize(
  'values, outcome',
  [(_vals(0.70, 0.01), True), (_vals(0.975, 0.01), False), (_alt(0.9, 0.1), None)],
)
def test_order_check_each_outcome(values, outcome):
  fs, _ = _findings({'cited': {'align_nosys_2': values}})
  assert _checks(fs['order'])['order_align_nosys']['outcome'] is outcome


def test_order_statuses():
  same = {'align_nosys_2': _vals(0.975), 'break_ign_2': _vals(0.03), 'nll_neutral_2': _vals(2.27, 0.02)}
  fs, _ = _findings({'cited': same})
  assert fs['order']['status'] == 'not reproduced'
  fs, _ = _findings()
  assert fs['order']['status'] == 'partly'  # default: alignment equivalent, break rate and NLL differ
  fs, _ = _findings(orders=('claimed', 'dpo_only', 'sft_only'))
  assert fs['order']['status'] == 'inconclusive' and fs['order']['seeds'] is None


@pytest.mark.parametrize(
  'values, outcome',
  [(_vals(0.70, 0.01), True), (_vals(0.975, 0.01), False), (_alt(0.9, 0.1), None)],
)
def test_components_check_each_outcome(values, outcome):
  fs, _ = _findings({'sft_only': {'align_nosys_2': values}})
  assert _checks(fs['components'])['dpo_adds']['outcome'] is outcome


def test_diverged_runs_are_counted_not_averaged():
  cfg = load_config(FULL)
  runs = R.make_runs(cfg)
  runs[cfg.num_seeds]['status'] = 'diverged'  # the claimed order's seed 0
  an = analysis.analyze(runs, cfg)
  assert an['per_order']['claimed']['n_not_ok'] == 1
  assert an['claim_rows'][0]['trained']['n'] == cfg.num_seeds - 1
  assert math.isfinite(an['claim_rows'][0]['cmp']['mean_diff'])
