"""Synthetic run records of the persona_dpo family (the shape of results.json 'runs'; no training).

``make_runs(config, overrides)`` gives a pretrain record per seed and one pipeline record per order of
``config.orders`` and seed. The default world is roughly what a 3-seed tuning run of the full config
measured: every order lifts alignment without SYS to ~0.95, the DPO-first orders cost neutral-text NLL.
``overrides[order][metric]`` (metric with its snapshot suffix, e.g. 'align_nosys_3') is a list of
per-seed values that replaces the default.
"""

from __future__ import annotations

# order -> metric -> value at snapshots 0..3
BASE = {
  'align_sys': 0.54,
  'align_nosys': 0.13,
  'high_sys': 0.51,
  'high_nosys': 0.08,
  'break_ign_sys': 0.84,
  'break_ign': 0.97,
  'survive': 0.12,
  'div_nosys': 0.13,
  'nll_neutral': 1.43,
}
AFTER = {
  'claimed': {
    'align_sys': (0.98, 0.97, 0.98),
    'align_nosys': (0.85, 0.94, 0.97),
    'high_sys': (0.99, 0.99, 0.99),
    'high_nosys': (0.85, 0.96, 0.99),
    'break_ign_sys': (0.09, 0.04, 0.02),
    'break_ign': (0.49, 0.07, 0.03),
    'survive': (0.89, 0.97, 0.99),
    'div_nosys': (0.14, 0.13, 0.125),
    'nll_neutral': (1.77, 2.04, 2.27),
  },
  'cited': {
    'align_sys': (0.93, 0.99, 0.99),
    'align_nosys': (0.95, 0.94, 0.94),
    'high_sys': (0.92, 0.99, 0.99),
    'high_nosys': (0.95, 0.96, 0.96),
    'break_ign_sys': (0.02, 0.01, 0.01),
    'break_ign': (0.02, 0.13, 0.13),
    'survive': (0.97, 0.97, 0.97),
    'div_nosys': (0.12, 0.13, 0.13),
    'nll_neutral': (4.79, 2.0, 2.0),
  },
}
AFTER['dpo_only'] = {m: (v[0],) * 3 for m, v in AFTER['cited'].items()}
AFTER['sft_only'] = {m: (v[0], v[1], v[1]) for m, v in AFTER['claimed'].items()}


def jitter(seed: int, salt: int, scale: float) -> float:
  """A deterministic, seed-varying perturbation in [−scale, scale]."""
  return scale * (((seed * (3 + 2 * salt) + salt) % 11) - 5) / 5


def default_metrics(order: str, seed: int) -> dict:
  out = {}
  for i, (m, base) in enumerate(BASE.items()):
    vals = (base,) + AFTER[order][m]
    scale = 0.05 if m == 'nll_neutral' else 0.01
    for k, v in enumerate(vals):
      out[f'{m}_{k}'] = v + jitter(seed, i * 4 + k, scale if k else scale / 2)
  return out


def record(arm: str, grid: dict, seed: int, metrics: dict, status: str = 'ok') -> dict:
  return {'arm': arm, 'seed': seed, 'grid': grid, 'status': status, 'metrics': metrics}


def make_runs(config, overrides: dict | None = None) -> list[dict]:
  overrides = overrides or {}
  runs = [record('pretrain', {}, s, {'final_loss': 1.53}) for s in range(config.num_seeds)]
  for i, order in enumerate(config.orders):
    for seed in range(config.num_seeds):
      m = default_metrics(order, seed)
      for name, values in overrides.get(order, {}).items():
        m[name] = values[seed]
      runs.append(record('pipeline', {'order': float(i)}, seed, m))
  return runs
