"""The runner's contract: vmapped == alone, seed identity, resume == uninterrupted, no recompiles,
freezing of done/diverged runs, the workdir shape."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from conftest import WALK, WALK_3, load_config, read_metrics, read_results

from exp.core import runner
from exp.core.experiment import Arm
from exp.core.workdir import MetricsLog


def _by_run(results):
  return {(r['arm'], r['seed'], json.dumps(r['grid'], sort_keys=True)): r for r in results['runs']}


def _lines_by_key(lines):
  return {
    (l['arm'], l['seed'], json.dumps(l['grid'], sort_keys=True), l['step']): l['metrics'] for l in lines
  }


def _walk(**overrides):
  return load_config(WALK, **overrides)


def test_workdir_has_design_shape(walk_run):
  for name in ('config.json', 'metrics.jsonl', 'results.json', 'report.md'):
    assert os.path.isfile(os.path.join(walk_run, name)), name
  assert os.path.isdir(os.path.join(walk_run, 'checkpoints'))
  assert [p for p in os.listdir(os.path.join(walk_run, 'plots')) if p.endswith('.png')]
  res = read_results(walk_run)
  assert res['experiment'] == 'walk' and res['complete'] is True
  assert len(res['config_sha256']) == 64
  cfg = _walk()
  assert len(res['runs']) == cfg.num_seeds * len(cfg.lrs) * len(cfg.arms)
  for r in res['runs']:
    assert set(r) >= {'arm', 'seed', 'grid', 'status', 'metrics'}
    assert isinstance(r['seed'], int) and set(r['grid']) == {'lr'}
  # The toy walk has runs of every status: done early, censored at the budget, diverged.
  assert {r['status'] for r in res['runs']} == {'ok', 'censored', 'diverged'}
  assert 'headline' in res['analysis']
  line = read_metrics(walk_run)[0]
  assert set(line) == {'arm', 'seed', 'grid', 'step', 'metrics'}
  stored = json.load(open(os.path.join(walk_run, 'config.json')))
  assert stored['sha256'] == res['config_sha256'] and stored['config']['experiment'] == 'toylab.walk'


def _same(x, y):
  """Equal, but floats only to the last bit or two (rel 1e-6)."""
  if isinstance(x, float) and isinstance(y, float):
    return abs(x - y) <= 1e-6 * max(abs(x), abs(y))
  return x == y


def test_vmapped_run_equals_the_same_run_alone(tmp_path):
  """Run r of the vmapped batch is run r executed alone (vectorize=False): the same trajectory bit for
  bit (status, steps to done, the state's norm), and the same metrics up to the last bit. XLA on CPU may
  order a reduction (here the mean over 4 coordinates) differently for a batch of 8 and a batch of 1, so a
  reduced metric can differ by 1 ulp; the state it is computed from does not."""
  cfg = dict(arms=('walk',), num_seeds=2)
  vec = runner.run(_walk(**cfg), str(tmp_path / 'vec'), quiet=True).results
  alone = runner.run(_walk(vectorize=False, **cfg), str(tmp_path / 'alone'), quiet=True).results
  assert _by_run(vec).keys() == _by_run(alone).keys()
  for k, r in _by_run(vec).items():
    o = _by_run(alone)[k]
    assert o['status'] == r['status'], k
    assert o['metrics'].get('steps_to_done') == r['metrics'].get('steps_to_done'), k
    assert o['metrics']['w_norm'] == r['metrics']['w_norm'], k  # bitwise: the state itself
    assert all(_same(o['metrics'][m], r['metrics'][m]) for m in r['metrics']), k
  # Logged curves agree wherever both logged (a lone run stops logging once it alone is done).
  lv, la = _lines_by_key(read_metrics(tmp_path / 'vec')), _lines_by_key(read_metrics(tmp_path / 'alone'))
  common = set(lv) & set(la)
  assert len(common) > 0.5 * len(la)
  assert all(_same(lv[k]['err'], la[k]['err']) for k in common)


def test_seed_is_the_same_run_whatever_runs_beside_it(tmp_path, walk_three_seeds):
  """Seed 2 alone (num_seeds=1, seed_offset=2) equals seed 2 inside a 3-seed run."""
  three = read_results(walk_three_seeds)
  one = runner.run(
    _walk(**dict(WALK_3, num_seeds=1, seed_offset=2)), str(tmp_path / 'one'), quiet=True
  ).results
  seed2 = {k: r for k, r in _by_run(three).items() if k[1] == 2}
  assert seed2 and seed2.keys() == _by_run(one).keys()
  for k, r in _by_run(one).items():
    assert seed2[k]['metrics'] == r['metrics']
  # ... and a different root seed gives different runs.
  other = runner.run(
    _walk(**dict(WALK_3, num_seeds=1, seed_offset=2, seed=7)), str(tmp_path / 'other'), quiet=True
  ).results
  assert [r['metrics'] for r in other['runs']] != [r['metrics'] for r in one['runs']]


def test_resume_equals_uninterrupted_and_never_recompiles(tmp_path):
  cfg = _walk(num_seeds=2)
  ref = runner.run(cfg, str(tmp_path / 'ref'), quiet=True)
  runner.TRACE_COUNTS.clear()
  part = runner.run(cfg, str(tmp_path / 'cut'), quiet=True, max_chunks=2)
  assert part.status == 'interrupted'
  assert not os.path.exists(tmp_path / 'cut' / 'results.json')
  runner.TRACE_COUNTS.clear()
  resumed = runner.run(cfg, str(tmp_path / 'cut'), quiet=True)
  assert resumed.status == 'complete'
  # One trace (= one compile) per arm in the resumed process, although the first chunk's state came
  # from a checkpoint and the later ones from the chunk function.
  assert runner.TRACE_COUNTS == {'walk': 1, 'heavy': 1}
  assert resumed.results['runs'] == ref.results['runs']
  assert read_metrics(tmp_path / 'cut') == read_metrics(tmp_path / 'ref')
  # A rerun after completion only reprints the report.
  runner.TRACE_COUNTS.clear()
  again = runner.run(cfg, str(tmp_path / 'cut'), quiet=True)
  assert again.status == 'reported' and runner.TRACE_COUNTS == {}
  assert again.report == open(tmp_path / 'cut' / 'report.md').read()


def _toy_arm(num_steps, done=True):
  """x ← x·a each step; done once x == 8; a = 1e30 overflows to inf at the second step."""
  return Arm(
    name='toy',
    grid={'a': np.array([2.0, 1.0, 1e30], np.float32)},
    init=lambda key, hp: {'x': jnp.float32(1.0)},
    step=lambda s, hp, key: ({'x': s['x'] * hp['a']}, {'x': s['x']}),
    evaluate=lambda s, hp: {'x': s['x']},
    done=(lambda s, hp: s['x'] == 8.0) if done else None,
    num_steps=num_steps,
  )


def test_done_diverged_and_budget_freeze_runs():
  arm = _toy_arm(num_steps=10)
  init_fn, chunk_fn, final_fn = runner.make_programs(arm, chunk_steps=4, log_every=2)
  hp = {'a': jnp.asarray(arm.grid['a'])}
  keys = jax.vmap(lambda s: runner.seed_key(0, s))(jnp.arange(3))
  carry = init_fn(keys, hp)
  for start in (0, 4, 8, 12):  # past the budget: frozen
    carry, metrics = chunk_fn(carry, hp, keys, jnp.int32(start))
  final = jax.device_get(final_fn(carry, hp))
  # a=2: x = 1, 2, 4, 8 -> done before the 4th update (3 updates taken), frozen at 8.
  assert final['done'][0] and final['done_step'][0] == 3 and final['metrics']['x'][0] == 8.0
  # a=1: never done within the budget -> censored.
  assert not final['done'][1] and final['metrics']['x'][1] == 1.0
  # a=1e30: the 2nd update overflows; the last finite state is kept and the step recorded.
  assert final['diverged'][2] and final['diverged_step'][2] == 1 and final['metrics']['x'][2] == 1e30
  recs = runner._records(arm, [{'seed': 0, 'grid': {'a': a}} for a in (2.0, 1.0, 1e30)], final, True)
  assert [r['status'] for r in recs] == ['ok', 'censored', 'diverged']
  assert recs[0]['metrics']['steps_to_done'] == 3 and recs[1]['metrics']['steps_to_done'] is None
  # Metrics were subsampled inside the scan: chunk_steps / log_every points per chunk.
  assert metrics['x'].shape == (3, 2)


def test_cpu_chunk_options_change_no_value():
  """The chunk programs compile with CPU_CHUNK_OPTIONS on CPU (copy insertion's region analysis, a
  speed-up); every carried value and logged metric equals the default compile's bit for bit."""
  from exp.families import memorization

  assert runner.chunk_compiler_options() == runner.CPU_CHUNK_OPTIONS  # the suite runs on CPU
  cfg = load_config()
  seeds = np.arange(cfg.num_seeds)
  for arm in memorization.build(cfg).arms[::2]:  # sl (supervised) and rl_step (REINFORCE)
    batch = runner.assemble_batch(arm, cfg.seed, seeds, 0, arm.num_points * len(seeds))
    init_fn, chunk, _ = runner.make_programs(arm, cfg.chunk_steps, cfg.log_every)
    default = jax.jit(chunk._batch(exact=False))
    a = b = init_fn(batch.keys, batch.hp)
    for start in (0, cfg.chunk_steps):
      a, metrics_a, _ = chunk.fast(a, batch.hp, batch.keys, jnp.int32(start))
      b, metrics_b, _ = default(b, batch.hp, batch.keys, jnp.int32(start))
      for x, y in zip(jax.tree.leaves((a, metrics_a)), jax.tree.leaves((b, metrics_b))):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=arm.name)


def test_arm_without_done_is_ok_at_budget():
  arm = _toy_arm(num_steps=3, done=False)
  init_fn, chunk_fn, final_fn = runner.make_programs(arm, chunk_steps=4, log_every=4)
  hp = {'a': jnp.asarray(arm.grid['a'][:2])}
  keys = jax.vmap(lambda s: runner.seed_key(0, s))(jnp.arange(2))
  carry, _ = chunk_fn(init_fn(keys, hp), hp, keys, jnp.int32(0))
  final = jax.device_get(final_fn(carry, hp))
  assert final['metrics']['x'][0] == 8.0  # exactly 3 updates of the 4-step chunk ran
  recs = runner._records(
    arm, [{'seed': 0, 'grid': {'a': 2.0}}, {'seed': 0, 'grid': {'a': 1.0}}], final, False
  )
  assert [r['status'] for r in recs] == ['ok', 'ok'] and 'steps_to_done' not in recs[0]['metrics']


def test_metrics_log_forward_fills_frozen_runs(tmp_path):
  path = tmp_path / 'm.jsonl'
  rows = [
    dict(arm='a', seed=0, grid={'n': 1}, step=0, metrics={'m': 1.0}),
    dict(arm='a', seed=1, grid={'n': 1}, step=0, metrics={'m': 2.0}),
    dict(arm='a', seed=1, grid={'n': 1}, step=10, metrics={'m': 3.0}),
    dict(arm='a', seed=1, grid={'n': 2}, step=10, metrics={'m': 9.0}),
  ]
  path.write_text('\n'.join(json.dumps(r) for r in rows) + '\n')
  steps, vals = MetricsLog(str(path)).curves('a', 'm', {'n': 1})
  assert steps.tolist() == [0, 10]
  assert vals.tolist() == [[1.0, 1.0], [2.0, 3.0]]
