"""The benchmark tool's pieces (exp/tools/benchmark.py) on the tiny plug-in families: compile figures per
arm, the pretraining stage included, and the tables' arithmetic on synthetic figures. The timings
themselves are the benchmark's business, never asserted here."""

import pytest
from conftest import WALK, load_config
from toylab.pretrain import get_config as pretrain_config

from exp.tools import benchmark

MACHINE = {'backend': 'cpu', 'device_kind': 'cpu', 'devices': 1, 'cpu_count': 2}  # synthetic figures' machine


def test_compile_figures_time_every_arm_and_count_a_shared_init_once():
  cfg = load_config(WALK)
  figs = benchmark.compile_figures(cfg)
  assert list(figs) == ['walk', 'heavy']
  assert figs['walk']['init_s'] > 0 and figs['heavy']['init_s'] == 0.0  # both arms use one init function
  for f in figs.values():
    assert f['runs'] == len(cfg.lrs) * cfg.num_seeds
    assert f['chunk_s'] > 0 and f['final_s'] > 0  # each arm has its own evaluate and done
    assert f['total_s'] == pytest.approx(f['init_s'] + f['chunk_s'] + f['final_s'])


def test_compile_figures_include_the_pretraining_stage():
  cfg = pretrain_config()
  figs = benchmark.compile_figures(cfg)
  assert list(figs) == ['pretrain', 'a']
  assert figs['pretrain']['runs'] == cfg.num_seeds and figs['pretrain']['final_s'] > 0


def test_always_active_runs_train_through_every_step_and_still_compute_done():
  """The throughput variant of an arm: no run is ever done or out of budget, so every state changes at
  every step, while the done test's computation stays in the program (both ways of reporting it)."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from exp.core import registry, runner

  for cfg, arm in ((load_config(WALK), 'walk'), (load_config(), 'sl')):  # done by test, done by the step
    real = next(a for a in registry.family_module(cfg).build(cfg).arms if a.name == arm)
    active = benchmark.always_active(real)
    assert active.num_steps == 10**9 and active.step_reports_done == real.step_reports_done
    seeds = np.arange(cfg.num_seeds)
    batch = runner.assemble_batch(real, cfg.seed, seeds, 0, real.num_points * len(seeds))
    for a, expect_done in ((real, True), (active, False)):
      init_fn, chunk, _ = runner.make_programs(a, cfg.chunk_steps, cfg.log_every)
      carry = init_fn(batch.keys, batch.hp)
      steps = 0
      while steps < real.num_steps:  # the real arm's whole budget
        before = carry['state']
        carry, _ = chunk(carry, batch.hp, batch.keys, jnp.int32(steps))
        steps += cfg.chunk_steps
      assert bool(np.any(carry['done'])) == expect_done, (real.name, a is active)
      if a is active:  # every run that did not diverge moved in the last chunk
        moved = jax.tree.map(
          lambda x, y: np.any(np.asarray(x != y).reshape(len(x), -1), axis=1), carry['state'], before
        )
        moved = np.any(np.stack(jax.tree.leaves(moved)), axis=0)
        assert np.all(moved | np.asarray(carry['diverged'])), real.name


def _figures(before, fast, after):
  return {
    'runs': 30,
    'compile_init_s': 1.0,
    'compile_chunk_s': 2.0,
    'compile_final_s': 0.5,
    'compile_s': 3.5,
    'compile_chunk_before_s': 2.5,
    'before_run_steps_per_s': before,
    'fast_default_run_steps_per_s': fast,
    'after_run_steps_per_s': after,
    'state_bytes': 1024,
    'cache_bandwidth_gbs': 10.0,
    'before_fraction_of_cache_bandwidth': 0.1,
    'after_fraction_of_cache_bandwidth': 0.25,
  }


def test_render_reports_the_ratio_of_the_numbers_it_prints():
  res = {
    **MACHINE,
    'experiment': 'memorization',
    'num_seeds': 10,
    'load_average': 0.5,
    'load_average_after': 1.5,
    'bandwidth_gbs': 15.0,
    'arms': {'sl': _figures(4000.0, 7000.0, 10000.0), 'rl': _figures(4000.0, 6000.0, 6000.0)},
  }
  rows = {line.split(' | ')[0]: line for line in benchmark.render(res).splitlines() if line.startswith('| ')}
  assert '| 4000 | 7000 | 10000 | 2.50× |' in rows['| sl']
  assert '| 4000 | 6000 | 6000 | 1.50× |' in rows['| rl']
  assert '10% → 25%' in rows['| sl']  # cache-bandwidth shares before → after


def test_render_compile_marks_the_arms_over_the_limit():
  def f(total):
    return {'runs': 10, 'init_s': 0.0, 'chunk_s': total, 'final_s': 0.0, 'total_s': total}

  def text(compile_figures):
    res = dict(MACHINE, load_average=0.1, load_average_after=0.2, compile=compile_figures)
    return benchmark.render_compile(res, limit_s=10.0)

  over = text({'a': {'x': f(3.0), 'y': f(12.5)}, 'b': {'z': f(10.0)}})
  assert '| a | y | 10 | 0.00 | 12.50 | 0.00 | 12.50 ⚠ |' in over
  assert '| b | z | 10 | 0.00 | 10.00 | 0.00 | 10.00 |' in over  # at the limit is not over it
  assert over.endswith('arms over 10 s: a/y')
  assert text({'a': {'x': f(3.0)}}).endswith('arms over 10 s: none')
