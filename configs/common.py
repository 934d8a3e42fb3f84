"""What every experiment config shares: the runner's keys with their defaults, and named variants.

Command: none of its own; every configs/<name>.py imports it, e.g.
  python run.py --config=configs/memorization.py:smoke --workdir=/tmp/mem_smoke
Runtime: none (it builds a ConfigDict). Expected result: a config whose runner keys validate
(exp/core/validate.py) and whose JSON is identical to the hand-written configs it replaced.

A config file is ``get_config(arg)``: it calls ``base_config`` with its experiment's name, arms and step
counts, adds its own keys, and ends with ``variant(c, arg, smoke={...})``, which returns the full config
for ``arg`` None or '' and applies the named variant's overrides otherwise (``--config=FILE:smoke``).

The runner's keys:
  experiment   a registered family name (exp/core/registry.py) or a dotted module path
  seed         root key; seed s runs with fold_in(key(seed), s)
  seed_offset  seeds are seed_offset .. seed_offset + num_seeds - 1
  num_seeds    10 by default: every arm x grid point runs with each
  arms         the static variants to run (each compiles once); --config.arms=a,b selects
  vectorize    False: one run at a time through the same compiled code (the benchmark baseline)
  num_steps    steps per run (a family may read it as a budget or a cap)
  chunk_steps  steps per compiled chunk; a checkpoint after each
  log_every    metrics are subsampled inside the scan every this many steps (must divide chunk_steps)
  tensorboard  True: live curves under workdir/tensorboard/, written on the host after each chunk
               (exp/core/live.py; needs the optional tensorboardX)
"""

import os

import ml_collections


def base_config(
  experiment: str,
  arms: tuple,
  *,
  num_steps: int,
  chunk_steps: int,
  log_every: int,
  num_seeds: int = 10,
  seed: int = 0,
  seed_offset: int = 0,
  vectorize: bool = True,
  tensorboard: bool = False,
) -> ml_collections.ConfigDict:
  """A ConfigDict holding the runner's keys (documented at the top of this file)."""
  c = ml_collections.ConfigDict()
  c.experiment = experiment
  c.seed = seed
  c.seed_offset = seed_offset
  c.num_seeds = num_seeds
  c.arms = tuple(arms)
  c.vectorize = vectorize
  c.num_steps = num_steps
  c.chunk_steps = chunk_steps
  c.log_every = log_every
  c.tensorboard = tensorboard
  return c


def variant(c: ml_collections.ConfigDict, arg, **variants: dict) -> ml_collections.ConfigDict:
  """Returns ``c`` for arg None or '' (the full config), else ``c`` with the overrides of the variant
  named ``arg`` applied (a dict key -> value; dotted keys reach nested fields). An unknown name raises
  ValueError naming the accepted ones; the launcher prints it as one line with exit code 2."""
  if arg in (None, ''):
    return c
  if arg not in variants:
    accepted = ', '.join(["'' (full)"] + [repr(v) for v in variants])
    raise ValueError(f'unknown config variant {arg!r} for configs/{_caller_file()}; accepted: {accepted}')
  for key, value in variants[arg].items():
    node, *path = key.split('.')
    target = c
    for part in [node] + path[:-1] if path else []:
      target = target[part]
    setattr(target, path[-1] if path else node, value)
  return c


def _caller_file() -> str:
  import inspect

  for frame in inspect.stack()[2:]:
    name = os.path.basename(frame.filename)
    if name != 'common.py':
      return name
  return '?'
