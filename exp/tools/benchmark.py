"""Benchmarks: where the speed targets live (never in timed tests).

  python -m exp.tools.benchmark --config=configs/memorization.py [--config.key=value] [--out=bench.json]
  python -m exp.tools.benchmark --config=configs/memorization.py --skip_end_to_end
  python -m exp.tools.benchmark --device_check [--out=check.json]    # the prepared accelerator check
  python -m exp.tools.benchmark --config=configs/catalogue.py --compile_only   # compile s, every arm

On one machine and in one process (the persistent compilation cache off, so compile times are real):
  1. per arm, the compile time of each of its programs in the runner's order (init and final programs
     are shared by arms with the same functions: a shared one costs the later arms nothing);
  2. per arm, steady-state run-steps/s of the chunk program before (the per-step finiteness check and a
     separate ``done`` forward pass, as the runner ran before the speed work: its exact program with
     XLA's default options), the fast program with XLA's defaults, and after (the fast program as the
     runner compiles it, with runner.chunk_compiler_options), every run training through every step
     (``always_active``: a frozen run costs less than a training one, which would flatter any program);
     bytes moved per run-step estimated as
     a read and a write of the run's state, and the fraction of this machine's memory bandwidth that is,
     of the memory bandwidth and of the bandwidth at the arm's working-set size (streaming copies measured
     in the same run);
  3. the full config end to end, cold (compile, checkpoints, analysis, report), vectorized, then with
     vectorize=False (each run alone through the same compiled programs) and with one seed.
With ``--compile_only`` (any config, or the catalogue config for every experiment): per arm, the pretraining
stage included, the trace + compile seconds of each program the runner compiles for it, nothing run.
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
_SKIP_E2E = flags.DEFINE_bool('skip_end_to_end', False, 'skip the three end-to-end runs')
_CHUNKS = flags.DEFINE_integer('chunks', 2, 'chunks timed per steady-state measurement')
_CHECK_VARIANT = flags.DEFINE_string(
  'device_check_variant', None, "with --device_check: 'smoke' rehearses the check on the smoke configs"
)
_COMPILE_ONLY = flags.DEFINE_bool(
  'compile_only', False, 'only the compile times of every arm (of every experiment with the catalogue config)'
)
_DEVICE_CHECK = flags.DEFINE_bool(
  'device_check', False, 'run the accelerator check (exp/tools/device_check.py)'
)


def copy_bandwidth_gbs(nbytes: int, repeats: int = 7) -> float:
  """Streaming copy bandwidth, GB/s ((read + write bytes) / best time), between two preallocated buffers of
  ``nbytes`` (numpy, one core: the programs' fused loops run on one core too). At 256 MiB it is the
  memory's bandwidth; at an arm's state size it is the bandwidth of the cache level that state fits in,
  the roofline that arm runs against."""
  import numpy as np

  n = max(nbytes // 4, 1024)
  src, dst = np.ones(n, np.float32), np.zeros(n, np.float32)
  np.copyto(dst, src)
  k = max(1, 2**28 // src.nbytes)  # copies per timing: at least 256 MiB moved, so the clock is not the noise

  def copies():
    for _ in range(k):
      np.copyto(dst, src)

  best = min(_timed(copies) for _ in range(repeats))
  return 2 * k * src.nbytes / best / 1e9


def _timed(fn) -> float:
  t0 = time.perf_counter()
  fn()
  return time.perf_counter() - t0


def _compile_s(jitted, *args) -> float:
  t0 = time.perf_counter()
  jitted.lower(*args).compile()
  return time.perf_counter() - t0


def _base_for(exp, config, seeds):
  """A zero base of the right shape per seed for families with a pretraining stage (speed only)."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from exp.core import runner

  if exp.pretrain is None:
    return None
  pre_init, _, _ = runner.make_programs(exp.pretrain, config.chunk_steps, config.log_every)
  keys = jax.vmap(lambda s: runner.seed_key(config.seed, s))(jnp.asarray(seeds))
  base = jax.eval_shape(lambda k: jax.vmap(exp.pretrain_output)(pre_init(k, {})['state']), keys)
  return jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), base)


def _rate(chunk, carry, hp, keys, config, chunks: int) -> float:
  """Run-steps/s of a compiled chunk program over ``chunks`` chunks after a warm-up chunk."""
  import jax
  import jax.numpy as jnp

  out = jax.block_until_ready(chunk(carry, hp, keys, jnp.int32(0)))
  c = out[0]
  t0 = time.perf_counter()
  for i in range(chunks):
    c = chunk(c, hp, keys, jnp.int32((i + 1) * config.chunk_steps))[0]
  jax.block_until_ready(c)
  n = jax.tree.leaves(hp)[0].shape[0] if hp else jax.tree.leaves(carry)[0].shape[0]
  return n * config.chunk_steps * chunks / (time.perf_counter() - t0)


def always_active(arm):
  """``arm`` with no step budget and a done test that never fires, so every run trains through every step
  of a chunk (a frozen run costs less than a training one). The test is still computed: an optimization
  barrier hides the constant False from XLA, which would otherwise drop the test's forward pass."""
  import jax
  import jax.numpy as jnp

  def never():
    return jax.lax.optimization_barrier(jnp.array(False))

  done = None if arm.done is None else (lambda s, hp: arm.done(s, hp) & never())
  step = arm.step
  if arm.step_reports_done:

    def step(s, hp, key):
      new, metrics = arm.step(s, hp, key)
      return new, dict(metrics, done=metrics['done'] & never())

  return dataclasses.replace(arm, num_steps=10**9, done=done, step=step)


def arm_figures(config, num_seeds: int, chunks: int, bandwidth: float | None = None) -> dict:
  """Per arm: compile seconds of init / chunk / final (0 when shared with an earlier arm), run-steps/s
  before and after, state bytes, and the bandwidth fraction."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from exp.core import registry, runner

  exp = registry.family_module(config).build(config)
  seeds = config.seed_offset + np.arange(num_seeds)
  base = _base_for(exp, config, seeds)
  out, seen = {}, set()
  for arm in exp.arms:
    batch = runner.assemble_batch(arm, config.seed, seeds, 0, arm.num_points * len(seeds), base)
    hp, keys, extra = batch.hp, batch.keys, batch.extra
    # Compile times: the runner's own programs of the arm.
    init_fn, chunk, _ = runner.make_programs(arm, config.chunk_steps, config.log_every)
    final = runner._shared_final(arm)
    # Throughput: every run trains through every step (no budget, a done test that never fires).
    active = always_active(arm)
    legacy = dataclasses.replace(active, step_reports_done=False)
    # The program the runner ran before the speed work: the legacy step, the exact chunk, XLA's defaults.
    before = jax.jit(runner.Chunk(legacy, config.chunk_steps, config.log_every)._batch(exact=True))
    after = runner.Chunk(active, config.chunk_steps, config.log_every).fast
    fast_default = jax.jit(runner.Chunk(active, config.chunk_steps, config.log_every)._batch(exact=False))
    fig = {'runs': batch.size}
    fig['compile_init_s'] = 0.0 if id(init_fn) in seen else _compile_s(init_fn, keys, hp, *extra)
    carry = jax.block_until_ready(init_fn(keys, hp, *extra))
    fig['compile_chunk_s'] = _compile_s(chunk.fast, carry, hp, keys, jnp.int32(0))
    fig['compile_final_s'] = 0.0 if id(final) in seen else _compile_s(final, carry, hp, jnp.int32(1))
    fig['compile_chunk_before_s'] = _compile_s(before, carry, hp, keys, jnp.int32(0))
    seen |= {id(init_fn), id(final)}
    fig['compile_s'] = fig['compile_init_s'] + fig['compile_chunk_s'] + fig['compile_final_s']
    fig['before_run_steps_per_s'] = _rate(before, carry, hp, keys, config, chunks)
    fig['fast_default_run_steps_per_s'] = _rate(fast_default, carry, hp, keys, config, chunks)
    fig['after_run_steps_per_s'] = _rate(after, carry, hp, keys, config, chunks)
    fig['state_bytes'] = int(sum(x.nbytes for x in jax.tree.leaves(carry['state']))) // batch.size
    # bytes moved per run-step, at least: one read and one write of the run's state
    fig['cache_bandwidth_gbs'] = copy_bandwidth_gbs(fig['state_bytes'] * batch.size)
    for when in ('before', 'after'):
      moved = 2 * fig['state_bytes'] * fig[f'{when}_run_steps_per_s']
      fig[f'{when}_fraction_of_cache_bandwidth'] = moved / (fig['cache_bandwidth_gbs'] * 1e9)
      if bandwidth:
        fig[f'{when}_fraction_of_memory_bandwidth'] = moved / (bandwidth * 1e9)
    out[arm.name] = fig
  return out


def compile_figures(config) -> dict:
  """Per arm (the pretraining stage as arm 'pretrain', with its output program), the trace + compile
  seconds of the init, fast chunk and final programs the runner compiles for the full runs axis, from
  abstract shapes (nothing runs). A program shared with an earlier arm of the experiment costs 0."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from exp.core import registry, runner

  exp = registry.family_module(config).build(config)
  seeds = config.seed_offset + np.arange(config.num_seeds)
  base = _base_for(exp, config, seeds)
  stages = ([(exp.pretrain, None)] if exp.pretrain is not None else []) + [(a, base) for a in exp.arms]
  out, seen = {}, set()
  for arm, b in stages:
    name = 'pretrain' if arm is exp.pretrain else arm.name
    batch = runner.assemble_batch(arm, config.seed, seeds, 0, arm.num_points * len(seeds), b)
    hp, keys = batch.hp, batch.keys
    extra = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), batch.extra)
    init_fn, chunk, _ = runner.make_programs(arm, config.chunk_steps, config.log_every)
    final = runner._shared_final(arm)
    carry = jax.eval_shape(init_fn, keys, hp, *extra)
    fig = {'runs': batch.size}
    fig['init_s'] = 0.0 if id(init_fn) in seen else _compile_s(init_fn, keys, hp, *extra)
    fig['chunk_s'] = _compile_s(chunk.fast, carry, hp, keys, jnp.int32(0))
    fig['final_s'] = 0.0 if id(final) in seen else _compile_s(final, carry, hp, jnp.int32(1))
    if arm is exp.pretrain:
      output = jax.jit(jax.vmap(exp.pretrain_output))
      fig['final_s'] += _compile_s(output, carry['state'])
    seen |= {id(init_fn), id(final)}
    fig['total_s'] = fig['init_s'] + fig['chunk_s'] + fig['final_s']
    out[name] = fig
  return out


def render_compile(res: dict, limit_s: float = 10.0) -> str:
  lines = [
    f'backend {res["backend"]} ({res["device_kind"]}, {res["devices"]} device(s), {res["cpu_count"]} CPUs); '
    f'load average {res["load_average"]:.2f} before, {res["load_average_after"]:.2f} after; trace + compile '
    's per program, persistent cache off, nothing run',
    '',
    '| experiment | arm | runs | init | chunk | final | total |',
    '|:---|:---|---:|---:|---:|---:|---:|',
  ]
  over = []
  for exp_name, arms in res['compile'].items():
    for arm, f in arms.items():
      flag = ' ⚠' if f['total_s'] > limit_s else ''
      lines.append(
        f'| {exp_name} | {arm} | {f["runs"]} | {f["init_s"]:.2f} | {f["chunk_s"]:.2f} | {f["final_s"]:.2f} | '
        f'{f["total_s"]:.2f}{flag} |'
      )
      if f['total_s'] > limit_s:
        over.append(f'{exp_name}/{arm}')
  lines += ['', f'arms over {limit_s:.0f} s: {", ".join(over) if over else "none"}']
  return '\n'.join(lines)


def end_to_end_s(config, **overrides) -> float:
  from exp.core import runner

  config = config.copy_and_resolve_references()
  with config.unlocked():
    for k, v in overrides.items():
      setattr(config, k, v)
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
  if _DEVICE_CHECK.value:
    from exp.tools import device_check

    return device_check.main(_OUT.value, _CHECK_VARIANT.value)
  config = _CONFIG.value
  if config is None:
    cli.fail('--config: required (an experiment config file), unless --device_check')
  from exp.core import catalogue, runner

  try:
    if catalogue.is_catalogue(config):
      if not _COMPILE_ONLY.value:
        cli.fail('--config: the catalogue config is accepted with --compile_only only')
      configs = {e.name: e.config for e in catalogue.select(config, tempfile.mkdtemp())}
    else:
      runner.prepare(config, tempfile.mkdtemp())  # validates the config before any compute
      configs = {config.experiment: config}
  except cli.ConfigError as e:
    cli.fail(f'--config.{e.key}: ' + str(e).split(': ', 1)[1])
  res = {
    'backend': jax.default_backend(),
    'devices': len(jax.devices()),
    'device_kind': jax.devices()[0].device_kind,
    'cpu_count': os.cpu_count(),
    'load_average': os.getloadavg()[0],
    'experiment': config.experiment,
    'num_seeds': config.get('num_seeds'),
  }
  if _COMPILE_ONLY.value:
    res['compile'] = {}
    for name, cfg in configs.items():
      res['compile'][name] = compile_figures(cfg)
      _drop_compiled()
      print(f'[benchmark] compiled {name}', flush=True)
    return _finish(res, render_compile)
  res['bandwidth_gbs'] = copy_bandwidth_gbs(256 * 2**20)
  res['arms'] = arm_figures(config, config.num_seeds, _CHUNKS.value, res['bandwidth_gbs'])
  if not _SKIP_E2E.value:
    # Each end-to-end run compiles cold: programs compiled before it are dropped first.
    for key, overrides in (
      ('end_to_end_s', {}),
      ('end_to_end_vectorize_false_s', {'vectorize': False}),
      ('end_to_end_one_seed_s', {'num_seeds': 1}),
    ):
      _drop_compiled()
      res[key] = end_to_end_s(config, **overrides)
  return _finish(res, render)


def _drop_compiled() -> None:
  """Forgets every compiled program (the runner's shared ones and jax's caches): the next compile is cold."""
  import jax

  from exp.core import runner

  runner._SHARED.clear()
  jax.clear_caches()


def _finish(res: dict, render_fn) -> int:
  """Records the load after the measurements, prints ``render_fn(res)``, writes --out."""
  res['load_average_after'] = os.getloadavg()[0]
  print(render_fn(res))
  if _OUT.value:
    with open(_OUT.value, 'w') as f:
      json.dump(res, f, indent=1)
  return 0


def render(res: dict) -> str:
  lines = [
    f'backend {res["backend"]} ({res["device_kind"]}, {res["devices"]} device(s), {res["cpu_count"]} CPUs), '
    f'experiment {res["experiment"]}, {res["num_seeds"]} seeds; load average {res["load_average"]:.2f} before, '
    f'{res["load_average_after"]:.2f} after; memory bandwidth {res["bandwidth_gbs"]:.1f} GB/s (streaming copy '
    'of 256 MiB, one core)',
    '',
    '| arm | runs | compile s: init + chunk + final = total (chunk before) | run-steps/s before | '
    'fast chunk, XLA defaults | after (+ chunk options) | after / before | state KiB/run | 2 × state / '
    'run-step: share of memory bw, of cache bw (GB/s) before → after |',
    '|:---|---:|:---|---:|---:|---:|---:|---:|:---|',
  ]
  for arm, f in res['arms'].items():
    lines.append(
      f'| {arm} | {f["runs"]} | {f["compile_init_s"]:.2f} + {f["compile_chunk_s"]:.2f} + '
      f'{f["compile_final_s"]:.2f} = {f["compile_s"]:.2f} ({f["compile_chunk_before_s"]:.2f}) | '
      f'{f["before_run_steps_per_s"]:.0f} | {f.get("fast_default_run_steps_per_s", float("nan")):.0f} | '
      f'{f["after_run_steps_per_s"]:.0f} | '
      f'{f["after_run_steps_per_s"] / f["before_run_steps_per_s"]:.2f}× | {f["state_bytes"] / 1024:.0f} | '
      f'{_pct(f, "before", "memory")} → {_pct(f, "after", "memory")}, {_pct(f, "before", "cache")} → '
      f'{_pct(f, "after", "cache")} ({f["cache_bandwidth_gbs"]:.1f}) |'
    )
  if 'end_to_end_s' in res:
    v, loop, one = res['end_to_end_s'], res['end_to_end_vectorize_false_s'], res['end_to_end_one_seed_s']
    lines += [
      '',
      f'full config end to end, cold: vectorized {v:.1f} s; vectorize=False {loop:.1f} s ({loop / v:.2f}× the '
      f'vectorized time); one seed {one:.1f} s ({v / one:.2f}× for {res["num_seeds"]} seeds)',
    ]
  return '\n'.join(lines)


def _pct(f: dict, when: str, level: str) -> str:
  v = f.get(f'{when}_fraction_of_{level}_bandwidth')
  return '–' if v is None else f'{100 * v:.0f}%'


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
