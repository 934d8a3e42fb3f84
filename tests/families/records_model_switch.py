"""Synthetic run records of the model-switch family (the shape of results.json 'runs'; no training).

``make_runs(config, gains, sd, shared_sd)`` gives one pretrain record per seed and one record per option
(every continue budget, every zoo candidate × fine-tuning budget) per seed. An option's Δ accuracy (points)
on seed s is ``gains[key] + shared_sd · u_s + sd[key] · e_{s,key}`` with u, e standard normal draws from a
fixed generator: ``shared_sd`` is an offset every option of a seed shares (what pairing by seed removes).
Keys are the analysis's option keys: 'continue@<k>' and 'switch:<recipe>-<width>@<budget>'.

The default world is the one the full config measures: the linear first choice gains ~1.5 points at every
budget; related-32 gains 16.5 / 28.8 points at 50 / 200 steps and beats the 4.47× larger candidates.
"""

from __future__ import annotations

import numpy as np

from exp.families.model_switch.program import as_tuple, candidate_names

ACC0 = 59.0  # accuracy (%) of the first choice at the decision point

FULL_WORLD = {
  'continue': 1.5,
  'switch:related-32@50': 16.5,
  'switch:related-32@200': 28.8,
  'switch:unrelated-144@50': 7.0,
  'switch:unrelated-144@200': 24.1,
  'switch:scratch-144@50': 10.7,
  'switch:scratch-144@200': 26.5,
  'switch:scratch-32@50': 4.2,
  'switch:scratch-32@200': 20.9,
}


def option_keys(config) -> list[str]:
  names = candidate_names(config)
  keys = [f'continue@{k}' for k in as_tuple(config.continue_steps)]
  return keys + [f'switch:{n}@{b}' for n in names for b in as_tuple(config.switch_steps)]


def _mean(gains: dict, key: str) -> float:
  if key in gains:
    return gains[key]
  return gains['continue'] if key.startswith('continue') else gains.get('switch', 0.0)


def record(arm: str, grid: dict, seed: int, metrics: dict, status: str = 'ok') -> dict:
  return {'arm': arm, 'seed': seed, 'grid': grid, 'status': status, 'metrics': metrics}


def make_runs(
  config, gains: dict | None = None, sd=1.0, shared_sd: float = 0.0, rng_seed: int = 0
) -> list[dict]:
  """Records for ``config.num_seeds`` seeds; ``sd`` is one noise SD or {key: SD} (default 1.0)."""
  gains = dict(FULL_WORLD if gains is None else gains)
  rng = np.random.default_rng(rng_seed)
  seeds = range(config.num_seeds)
  shared = shared_sd * rng.standard_normal(config.num_seeds)
  runs = [record('pretrain', {}, s, {'first_acc': ACC0 / 100, 'zoo_source_acc': 0.5}) for s in seeds]
  widths, names = as_tuple(config.zoo_widths), candidate_names(config)
  for key in option_keys(config):
    noise = (sd.get(key, 1.0) if isinstance(sd, dict) else sd) * rng.standard_normal(config.num_seeds)
    if key.startswith('continue'):
      arm, grid = 'continue', {'k': int(key.split('@')[1])}
    else:
      name, b = key[len('switch:') :].split('@')
      c = names.index(name)
      arm, grid = 'switch', {'cand': c, 'width': widths[c], 'budget': int(b)}
    for s in seeds:
      d = _mean(gains, key) + shared[s] + noise[s]
      runs.append(record(arm, grid, s, {'delta': d / 100, 'acc': (ACC0 + d) / 100, 'acc0': ACC0 / 100}))
  return runs
