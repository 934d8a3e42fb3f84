"""Benchmarks: where the speed targets live (never in timed tests).

  python -m exp.tools.benchmark --config=configs/memorization.py [--config.key=value] [--out=bench.json]
  python -m exp.tools.benchmark --config=configs/memorization.py --skip_loop   # without the slow baseline

On one machine and in one process it measures:
  1. compile time of each arm's chunk program (lower + compile, no persistent cache);
  2. steady-state time per chunk with 1 seed and with num_seeds seeds (the cost of vectorizing seeds),
     every run forced to run the whole chunk (no early stop);
  3. the full config end to end, vectorized, in a fresh workdir (compile, checkpoints, report included);
  4. the same with vectorize=False: each run alone through the same compiled chunk function.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time

from absl import app, flags
from ml_collections import config_flags

from exp.core import cli

_CONFIG = config_flags.DEFINE_config_file('config', None, 'experiment config file')
_OUT = flags.DEFINE_string('out', None, 'also write the numbers as JSON here')
_SKIP_LOOP = flags.DEFINE_bool('skip_loop', False, 'skip the vectorize=False end-to-end run')
_CHUNKS = flags.DEFINE_integer('chunks', 3, 'chunks timed per steady-state measurement')
flags.mark_flags_as_required(['config'])


def _steady_state(config, num_seeds: int, chunks: int) -> dict:
  """Compile time and seconds per chunk for each arm with ``num_seeds`` seeds."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from exp.core import registry, runner

  module = registry.family_module(config)
  exp = module.build(config)
  out = {}
  seeds = config.seed_offset + np.arange(num_seeds)
  base = None
  if exp.pretrain is not None:  # pretrained families get a zero base of the right shape per seed
    pre_init, _, _ = runner.make_programs(exp.pretrain, config.chunk_steps, config.log_every)
    pre_keys = jax.vmap(lambda s: runner.seed_key(config.seed, s))(jnp.asarray(seeds))
    base = jax.eval_shape(lambda k: jax.vmap(exp.pretrain_output)(pre_init(k, {})['state']), pre_keys)
    base = jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), base)
  for arm in exp.arms:
    # The runner's own batch assembly (all runs of the arm in one batch, as vectorize=True runs them).
    batch = runner.assemble_batch(arm, config.seed, seeds, 0, arm.num_points * len(seeds), base)
    n, hp, keys, extra = batch.size, batch.hp, batch.keys, batch.extra
    never_done = dataclasses.replace(arm, done=None, num_steps=10**9)
    init_fn, chunk_fn, _ = runner.make_programs(
      never_done, config.chunk_steps, config.log_every, with_base=exp.pretrain is not None
    )
    carry = jax.block_until_ready(init_fn(keys, hp, *extra))
    t0 = time.perf_counter()
    compiled = chunk_fn.lower(carry, hp, keys, jnp.int32(0)).compile()
    compile_s = time.perf_counter() - t0
    carry, _ = jax.block_until_ready(compiled(carry, hp, keys, jnp.int32(0)))  # warm-up
    t0 = time.perf_counter()
    for c in range(chunks):
      carry, _ = compiled(carry, hp, keys, jnp.int32((c + 1) * config.chunk_steps))
    jax.block_until_ready(carry)
    per_chunk = (time.perf_counter() - t0) / chunks
    out[arm.name] = {
      'runs': n,
      'compile_s': compile_s,
      'chunk_s': per_chunk,
      'run_steps_per_s': n * config.chunk_steps / per_chunk,
    }
  return out


def _end_to_end(config) -> float:
  from exp.core import runner

  with tempfile.TemporaryDirectory() as d:
    t0 = time.perf_counter()
    outcome = runner.run(config, os.path.join(d, 'w'), quiet=True)
    assert outcome.status == 'complete'
    return time.perf_counter() - t0


def main(argv):
  del argv
  import jax

  cli.quiet_logging()
  jax.config.update('jax_enable_compilation_cache', False)  # compile times must be real
  config = _CONFIG.value
  from exp.core import runner

  try:
    runner.prepare(config, tempfile.mkdtemp())  # validates the config before any compute
  except cli.ConfigError as e:
    cli.fail(f'--config.{e.key}: ' + str(e).split(': ', 1)[1])
  s = config.num_seeds
  res = {
    'backend': jax.default_backend(),
    'devices': len(jax.devices()),
    'device_kind': jax.devices()[0].device_kind,
    'cpu_count': os.cpu_count(),
    'experiment': config.experiment,
    'num_seeds': s,
  }
  one = config.copy_and_resolve_references()
  with one.unlocked():
    one.num_seeds = 1
  res['steady_1_seed'] = _steady_state(one, 1, _CHUNKS.value)
  res[f'steady_{s}_seeds'] = _steady_state(config, s, _CHUNKS.value)
  res['end_to_end_vectorized_s'] = _end_to_end(config)
  if not _SKIP_LOOP.value:
    loop = config.copy_and_resolve_references()
    with loop.unlocked():
      loop.vectorize = False
    res['end_to_end_one_run_at_a_time_s'] = _end_to_end(loop)
  print(render(res))
  if _OUT.value:
    with open(_OUT.value, 'w') as f:
      json.dump(res, f, indent=1)
  return 0


def render(res: dict) -> str:
  s = res['num_seeds']
  lines = [
    f'backend {res["backend"]} ({res["device_kind"]}, {res["devices"]} device(s), '
    f'{res["cpu_count"]} CPUs), experiment {res["experiment"]}',
    '',
    f'| arm | compile s | chunk s, 1 seed | chunk s, {s} seeds | {s} seeds / 1 seed | run-steps/s, {s} seeds |',
    '|:---|---:|---:|---:|---:|---:|',
  ]
  for arm, one in res['steady_1_seed'].items():
    many = res[f'steady_{s}_seeds'][arm]
    lines.append(
      f'| {arm} | {many["compile_s"]:.2f} | {one["chunk_s"]:.4f} | {many["chunk_s"]:.4f} | '
      f'{many["chunk_s"] / one["chunk_s"]:.2f}× | {many["run_steps_per_s"]:.0f} |'
    )
  lines.append('')
  lines.append(f'full config end to end, vectorized: {res["end_to_end_vectorized_s"]:.1f} s')
  if 'end_to_end_one_run_at_a_time_s' in res:
    lines.append(
      f'full config end to end, vectorize=False: {res["end_to_end_one_run_at_a_time_s"]:.1f} s '
      f'({res["end_to_end_one_run_at_a_time_s"] / res["end_to_end_vectorized_s"]:.2f}× the vectorized time)'
    )
  return '\n'.join(lines)


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
