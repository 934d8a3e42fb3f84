"""Family A on the smoke config: behaviour of the arms and the shape of the analysis and report."""

import os

import numpy as np
import records_memorization as R
from conftest import load_config, read_results

from exp.analysis import report, stats
from exp.analysis.findings import OUTCOME_WORD, render_number
from exp.core import runner
from exp.families import memorization
from exp.families.memorization import report as mem_report


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


def test_dense_sampler_is_jax_categorical_bit_for_bit():
  """The binary-token arm draws its tokens with a flat Gumbel draw; the tokens are jax.random.categorical's
  (axis=1), vmapped over runs as in the chunk program."""
  import jax
  import jax.numpy as jnp

  from exp.families.memorization import program

  keys = jax.random.split(jax.random.key(2), 64)
  logp = jax.nn.log_softmax(jax.random.normal(jax.random.key(3), (64, 9, 2)) * 2.0, axis=-1)
  ours = jax.jit(jax.vmap(program.sample_rows))(keys, logp)
  ref = jax.jit(jax.vmap(lambda k, l: jax.random.categorical(k, l, axis=1)))(keys, logp)
  np.testing.assert_array_equal(ours, ref)
  assert 0 < int(jnp.sum(ours)) < ours.size  # both tokens drawn


def test_each_step_reports_the_done_test_of_the_state_before_its_update():
  """``step_reports_done``: the runner takes 'done' from the step instead of calling ``done``; the two must
  agree on every state, on both sides of the goal. States: each arm's own trajectory, plus, for the arms
  sharing SL's init (same parameters), SL's trajectory, which reaches the goal in one update."""
  import jax
  import jax.numpy as jnp

  cfg = load_config()
  arms = {a.name: a for a in memorization.build(cfg).arms}
  hp = {'n': jnp.int32(4), 'lr': jnp.float32(0.1)}

  def trajectory(arm, steps):
    step = jax.jit(lambda s, k: arm.step(s, hp, k))
    states = [arm.init(runner.seed_key(0, 1), hp)]
    for t in range(steps):
      states.append(step(states[-1], jax.random.key(t))[0])
    return states

  sl_states = trajectory(arms['sl'], 5)
  for arm in arms.values():
    assert arm.step_reports_done
    step = jax.jit(lambda s, k, arm=arm: arm.step(s, hp, k)[1]['done'])
    done = jax.jit(lambda s, arm=arm: arm.done(s, hp))
    states = trajectory(arm, 30) + (sl_states if arm.init is arms['sl'].init else [])
    seen = set()
    for t, state in enumerate(states):
      before = bool(done(state))
      assert bool(step(state, jax.random.key(100 + t))) == before, (arm.name, t)
      seen.add(before)
    assert seen == {False, True}, arm.name


def test_analysis_and_report_sections(smoke_run):
  res = read_results(smoke_run)
  an = res['analysis']
  assert set(an) >= {'cells', 'fits', 'comparisons', 'larger_ns', 'audit', 'findings', 'headline'}
  fit = an['fits']['sl']['per_seed']
  assert fit['exponent'] == 0.0  # 2 episodes at every N: exactly flat
  assert [f['name'] for f in an['findings']] == ['scaling', 'sl_advantage']
  assert an['headline']['status'] == an['findings'][0]['status']
  for f in an['findings']:
    _assert_texts(f)
  report = open(os.path.join(smoke_run, 'report.md')).read()
  for section in (
    '| N |',
    '## Scaling',
    '## SL vs RL-EoE',
    '## Findings',
    '## Is ten enough?',
    'halfwidth_by_seeds',
  ):
    assert section in report
  assert '## Verdict' not in report and '## Audit' not in report
  for f in an['findings']:
    for c in f['checks']:
      assert c['text'] in report
  assert os.path.getsize(os.path.join(smoke_run, 'plots', 'episodes_vs_n.png')) > 1000
  # Every comparison row got a Holm-adjusted p no smaller than its primary p.
  for c in an['comparisons']:
    assert c['holm_p'] is None or c['primary_p'] is None or c['holm_p'] >= c['primary_p'] - 1e-12


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


# ---------------------------------------------------------------------------------------------------------
# Findings on synthetic run records (no training)


def _assert_texts(f):
  """Each check's sentence is its wording for its outcome, with its numbers."""
  for c in f['checks']:
    wording = c['wordings'][OUTCOME_WORD[c['outcome']]]
    numbers = {k: render_number(v, c['kinds'].get(k)) for k, v in c['numbers'].items()}
    assert c['text'] == wording.format(**numbers), c['name']


def _analyze(laws, **overrides):
  config = load_config('configs/memorization.py', n_boot=200, **overrides)
  an = memorization.analyze(R.records(config, laws), config)
  for f in an['findings']:
    _assert_texts(f)
  return an


def _finding(an, name):
  return next(f for f in an['findings'] if f['name'] == name)


def _check(an, finding, name):
  return next(c for c in _finding(an, finding)['checks'] if c['name'] == name)


def _outcomes(f):
  return {c['name']: c['outcome'] for c in f['checks'] if c['role'] == 'claim'}


def test_every_claim_holds_reproduced():
  an = _analyze(R.reproduced_laws())
  scaling, adv = _finding(an, 'scaling'), _finding(an, 'sl_advantage')
  assert scaling['status'] == 'reproduced' and adv['status'] == 'reproduced'
  assert set(_outcomes(scaling)) == {
    'sl_large_flat',
    'sl_small_flat',
    'rl_eoe_grows',
    'rl_eoe_exponent',
    'rl_step_times_out',
  }
  assert an['headline']['status'] == 'reproduced'
  assert scaling['effect']['name'].endswith('N=500') and scaling['seeds']['n_a'] == 10


def test_no_claim_holds_not_reproduced():
  laws = {
    'sl': R.power(2, 0.5, 0.1),
    'sl_small': R.power(30, 0.5, 0.1),
    'rl_eoe': R.power(20, 0.0, 0.1),
    'rl_step': R.const(50),
    'rl_step_dense': R.power(10, 0.0, 0.2),
  }
  scaling = _finding(_analyze(laws), 'scaling')
  assert set(_outcomes(scaling).values()) == {False}
  assert scaling['status'] == 'not reproduced'
  laws = {'sl': R.power(100, 0.0, 0.1), 'rl_eoe': R.power(10, 0.0, 0.1), 'rl_step': R.power(20, 0.0, 0.1)}
  adv = _finding(_analyze(laws), 'sl_advantage')
  assert set(_outcomes(adv).values()) == {False} and adv['status'] == 'not reproduced'


def test_small_step_sl_growing_makes_the_main_claim_partly():
  # The old verdict judged only the large-step series (flat by construction) and ignored this one.
  an = _analyze(dict(R.reproduced_laws(), sl_small=R.power(30, 0.4, 0.1)))
  scaling = _finding(an, 'scaling')
  assert _outcomes(scaling) == {
    'sl_large_flat': True,
    'sl_small_flat': False,
    'rl_eoe_grows': True,
    'rl_eoe_exponent': True,
    'rl_step_times_out': True,
  }
  assert scaling['status'] == 'partly'
  assert 'flat by construction' in _check(an, 'scaling', 'sl_large_flat')['text']


def test_a_wide_rl_eoe_spread_makes_the_advantage_partly():
  an = _analyze(dict(R.reproduced_laws(), rl_eoe=R.power(20, 0.89, 0.8)))
  adv = _finding(an, 'sl_advantage')
  assert _outcomes(adv) == {
    'sl_fewer_than_rl_eoe': True,
    'sl_fewer_than_rl_step': True,
    'g_at_claim_n': False,
  }
  assert adv['status'] == 'partly'


def test_the_writeups_g_is_inconclusive_when_our_ns_miss_its_n():
  an = _analyze(R.reproduced_laws(), ns=(4, 16, 64))
  adv = _finding(an, 'sl_advantage')
  assert _outcomes(adv)['g_at_claim_n'] is None and adv['status'] == 'inconclusive'
  assert '4, 16, 64' in _check(an, 'sl_advantage', 'g_at_claim_n')['text']


def test_rl_eoe_exponent_is_judged_against_the_claims_exponent():
  an = _analyze(dict(R.reproduced_laws(), rl_eoe=R.power(20, 0.5, 0.15, per_seed=True)))
  c = _check(an, 'scaling', 'rl_eoe_exponent')
  assert c['outcome'] is False and c['numbers']['claimed'] == 0.89 and c['claimed'] == 0.89


# Defects of the review, each with a test that fails on the old behaviour


def test_holm_family_is_the_findings_family_in_table_and_checks():
  with_dense = _analyze(R.reproduced_laws())
  laws = R.reproduced_laws()
  del laws['rl_step_dense']
  without = _analyze(laws)
  fam = [c for c in with_dense['comparisons'] if c['family'] == 'sl_vs_rl']
  # The audit arm's rows do not change the claim's family (the old code pooled every row in one Holm).
  assert [c['holm_p'] for c in fam] == [c['holm_p'] for c in without['comparisons']]
  assert [c['holm_p'] for c in fam] == stats.holm([c['primary_p'] for c in fam])
  check = _check(with_dense, 'sl_advantage', 'sl_fewer_than_rl_step')
  assert check['numbers']['max_holm_p'] == max(c['holm_p'] for c in fam if c['b'] == 'rl_step')
  # The table prints the same adjusted p the checks read.
  rows = [c for c in fam if 'log10' in c]
  table = mem_report._family_section(with_dense, 'sl_vs_rl')
  assert 'Holm p' in table and len(rows) == 4
  mid = next(c for c in fam if 'log10' not in c)
  assert f'| {report.fmt_p(mid["holm_p"])} |' in table.splitlines()[-1]


def test_flat_means_the_whole_ci_inside_the_bound():
  # Exponent ≈ 0.12 with CI ≈ [0.03, 0.21]: the old rule (ci_low ≤ 0.1 and |b| < 0.15) called it flat.
  an = _analyze(dict(R.reproduced_laws(), sl=lambda n, seed: round(20 * n ** (0.25 if seed % 2 else 0.0))))
  c = _check(an, 'scaling', 'sl_large_flat')
  lo, hi = c['numbers']['ci']
  assert lo <= 0.1 < 0.15 < hi and abs(c['numbers']['exponent']) < 0.15
  assert c['outcome'] is None and 'straddles' in c['text']


def test_dense_arm_above_rl_eoe_is_not_called_like_rl_eoe():
  laws = dict(
    R.reproduced_laws(),
    rl_eoe=R.power(20, 0.3, 0.1, per_seed=True),
    rl_step_dense=R.power(2, 0.9, 0.1, per_seed=True),
  )
  c = _check(_analyze(laws), 'scaling', 'dense_vs_rl_eoe')
  assert c['outcome'] is False and c['role'] == 'audit'
  assert c['text'].startswith('The dense per-token reward scales faster than RL-EoE')


def test_censored_rl_eoe_runs_are_counted_in_the_audit():
  base = R.power(20, 0.89, 0.15, per_seed=True)
  laws = dict(R.reproduced_laws(), rl_eoe=lambda n, seed: None if n == 10 and seed < 3 else base(n, seed))
  an = _analyze(laws)
  sd = _check(an, 'sl_advantage', 'implied_sd')
  assert sd['numbers']['converged'] == 7 and sd['numbers']['censored'] == 3
  assert '7 converged runs (3 censored left out)' in sd['text']
  geo = _check(an, 'sl_advantage', 'geometric_sd')
  assert geo['outcome'] is None and geo['numbers']['censored'] == 3
  assert _check(an, 'scaling', 'rl_eoe_grows')['numbers']['censored'] == 3


def test_diverged_runs_are_counted_apart_from_censored():
  laws = dict(R.reproduced_laws(), rl_step=lambda n, seed: 7000 if n == 10 else R.DIVERGED)
  an = _analyze(laws)
  c = _check(an, 'scaling', 'rl_step_times_out')
  assert c['numbers']['diverged'] == 20 and c['numbers']['censored'] == 0 and c['numbers']['converged'] == 0
  assert c['outcome'] is None  # no run was left to time out; the old code read diverged as censored
  assert '20 diverged' in c['text']
  assert '0/10, 10 diverged' in mem_report._episodes_table(an)


def test_the_larger_ns_come_from_the_config():
  an = _analyze(R.reproduced_laws(), ns=(4, 16, 64))
  c = _check(an, 'scaling', 'rl_step_times_out')
  assert c['numbers']['ns'] == '16, 64' and c['numbers']['censored'] == 20 and c['outcome'] is True


def test_implied_sd_is_compared_only_at_the_claims_n():
  an = _analyze(R.reproduced_laws(), ns=(4, 16, 64))
  c = _check(an, 'sl_advantage', 'implied_sd')
  assert c['outcome'] is None and c['numbers']['sd'] is None and '4, 16, 64' in c['text']
  c = _check(_analyze(R.reproduced_laws()), 'sl_advantage', 'implied_sd')
  assert c['outcome'] is True and c['numbers']['n'] == 10


def test_geometric_like_sd_is_a_check_on_our_numbers():
  def geometric(n, seed):
    return int(np.random.default_rng(seed).geometric(1 / (2 * n**0.89)))

  an = _analyze(dict(R.reproduced_laws(), rl_eoe=geometric))
  c = _check(an, 'sl_advantage', 'geometric_sd')
  assert c['numbers']['ratio'] == c['numbers']['sd'] / c['numbers']['mean']
  assert c['outcome'] is True
  c = _check(_analyze(R.reproduced_laws()), 'sl_advantage', 'geometric_sd')
  assert c['outcome'] is False and c['numbers']['ratio'] < c['numbers']['low']
