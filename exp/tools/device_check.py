"""The prepared accelerator check: one command, one table, a few minutes on one GPU.

  python -m exp.tools.benchmark --device_check [--out=check.json]
  python -m exp.tools.benchmark --device_check --device_check_variant=smoke   # a rehearsal on a CPU

It measures, on the default device:
  1. every registered family's full config: seconds per chunk with 10 seeds and with 1 seed (the cost of
     vectorizing seeds; target on a GPU: 10 seeds ≤ 1.3× one seed);
  2. lora_collapse's 170-run learning-rate grid (17 lrs × 10 seeds, one rank) against one run of it
     (target: ≤ 2× one run);
  3. every registered family's :smoke config end to end (compile, run, analysis, report).
Families whose config cannot be built are listed with the error instead of failing the check.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
import traceback

# lora_collapse's classification arm (one label token) carries the 170-run grid.
ARM = 'classify'
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_config(name: str, variant: str | None = None):
  path = os.path.join(ROOT, 'configs', f'{name}.py')
  spec = importlib.util.spec_from_file_location(f'cfg_{name}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)


def chunk_seconds(config, num_seeds: int) -> float:
  """Seconds per chunk of the slowest arm (all its runs in one batch, every run forced through the whole
  chunk), after a warm-up chunk; compile excluded."""
  import dataclasses

  import jax
  import jax.numpy as jnp
  import numpy as np

  from exp.core import registry, runner
  from exp.tools.benchmark import _base_for

  exp = registry.family_module(config).build(config)
  seeds = config.seed_offset + np.arange(num_seeds)
  base = _base_for(exp, config, seeds)
  worst = 0.0
  for arm in exp.arms:
    batch = runner.assemble_batch(arm, config.seed, seeds, 0, arm.num_points * len(seeds), base)
    forced = dataclasses.replace(arm, num_steps=10**9)
    init_fn, chunk, _ = runner.make_programs(forced, config.chunk_steps, config.log_every)
    place = runner.placement_for(batch.size)
    hp, keys = place.put(batch.hp, batch.size), place.put(batch.keys, batch.size)
    carry = init_fn(keys, hp, *(place.put(e, batch.size) for e in batch.extra))
    carry = jax.block_until_ready(chunk.fast(carry, hp, keys, jnp.int32(0)))[0]
    t0 = time.perf_counter()
    jax.block_until_ready(chunk.fast(carry, hp, keys, jnp.int32(config.chunk_steps)))
    worst = max(worst, time.perf_counter() - t0)
  return worst


def _with(config, **values):
  config = config.copy_and_resolve_references()
  with config.unlocked():
    for k, v in values.items():
      setattr(config, k, v)
  return config


def _row(rows, what, fn):
  try:
    rows.append((what, fn(), ''))
  except Exception as e:  # a family that fails is a row of the table, not the end of the check
    rows.append((what, None, f'{type(e).__name__}: {e}'.splitlines()[0][:120]))
    traceback.print_exc()


def main(out: str | None = None, variant: str | None = None) -> int:
  """``variant='smoke'`` runs sections 1 and 2 on the smoke configs: a quick rehearsal of the check on a
  CPU (its figures mean nothing for the targets)."""
  import jax

  from exp.core import registry
  from exp.tools.benchmark import end_to_end_s

  rows = []
  t_start = time.perf_counter()
  for name in registry.registered():
    if not os.path.isfile(os.path.join(ROOT, 'configs', f'{name}.py')):
      continue

    def ratio(name=name):
      full = load_config(name, variant)
      many = chunk_seconds(_with(full, num_seeds=10), 10)
      one = chunk_seconds(_with(full, num_seeds=1), 1)
      return {'10_seeds_s': many, '1_seed_s': one, 'ratio': many / one}

    _row(rows, f'{name}: chunk, 10 seeds vs 1 seed', ratio)

  def grid():
    lora = load_config('lora_collapse', variant)
    rank = (tuple(lora.ranks) or (8,))[0]
    many = chunk_seconds(_with(lora, num_seeds=10, ranks=(rank,), arms=(ARM,)), 10)
    one_lr = _with(lora, num_seeds=1, ranks=(rank,), lrs=(tuple(lora.lrs)[0],), arms=(ARM,))
    one = chunk_seconds(one_lr, 1)
    return {f'{10 * len(tuple(lora.lrs))}_runs_s': many, '1_run_s': one, 'ratio': many / one}

  _row(rows, 'lora_collapse: 170-run lr grid vs 1 run, chunk', grid)
  for name in registry.registered():
    if os.path.isfile(os.path.join(ROOT, 'configs', f'{name}.py')):
      _row(
        rows, f'{name}: smoke end to end', lambda name=name: {'s': end_to_end_s(load_config(name, 'smoke'))}
      )
  total = time.perf_counter() - t_start
  device = f'{jax.default_backend()} {jax.devices()[0].device_kind} × {len(jax.devices())}'
  print(render(rows, device, total))
  if out:
    with open(out, 'w') as f:
      json.dump({'device': device, 'total_s': total, 'rows': rows}, f, indent=1)
  return 0


def render(rows, device: str, total: float) -> str:
  lines = [
    f'device check on {device}, {total:.0f} s in all',
    '',
    '| measurement | figures | error |',
    '|:---|:---|:---|',
  ]
  for what, figures, error in rows:
    shown = ', '.join(f'{k} {v:.3f}' for k, v in (figures or {}).items())
    lines.append(f'| {what} | {shown} | {error} |')
  return '\n'.join(lines)
