"""Synthetic run records of the distillation family (the shape of results.json 'runs'; no training).

``make_runs(config, overrides)`` gives every setup of every arm in ``config.arms`` for ``config.num_seeds``
seeds, plus the lr-sensitivity runs of the source's setup. The default world is the one the full config
measures: no setup's exact KL jumps at the switch; the correct hybrids end level with on-only; the
unshifted-SFT hybrids collapse during the off-policy phase and their log (copy loss before, estimate
after) shows a ~1000× spike at the main lr, 9× at lr 3e-3 and 2× at 1e-3; the source's setup ends far
below on-only. ``overrides[(arm, setup_key)]`` maps a metric name to per-seed values (a list) that replace
the default.
"""

from __future__ import annotations

from exp.families.distillation import common


def _jit(seed: int, salt: int, scale: float) -> float:
  """A deterministic, seed-varying perturbation in [−scale, scale]."""
  return scale * (((seed * (3 + 2 * salt) + salt) % 11) - 5) / 5


def default_metrics(key: str, seed: int, sw: int, logged_spike: float = 1000.0) -> dict:
  j = lambda salt, scale: _jit(seed, salt, scale)
  m = {
    'legal_start': 0.5 + j(1, 0.03),
    'change_step': -1,
    'rep': 0.12 + j(2, 0.01),
    'kl_exact': 0.01 + j(3, 0.002),
    'legal': 0.94 + j(4, 0.02),
  }
  for k in ('kl', 'est', 'stale', 'source', 'legal'):
    m[k + '_pre'] = m[k + '_post'] = 0.0
  if key == 'off_only/unshifted':
    m.update(legal=0.12 + j(5, 0.01), change_step=7)
  if not key.startswith('hybrid'):
    return m
  unshifted = key.split('/')[1] == 'unshifted'
  pre = (6.6 if unshifted else 0.067) * (1 + j(6, 0.1))
  m.update(kl_pre=pre, kl_post=pre * (1.0 + j(7, 0.04)), est_pre=pre, est_post=pre)
  m.update(stale_pre=0.38 * (1 + j(8, 0.2)), legal_pre=0.95 + j(9, 0.01), legal_post=0.95 + j(10, 0.01))
  m['legal'] = 0.945 + j(11, 0.02)
  after = (6.5 if unshifted else 0.074) * (1 + j(12, 0.1))
  m.update(source_post=after, stale_post=after)
  m['source_pre'] = after / (logged_spike * (1 + j(13, 0.2))) if unshifted else 1.26 * (1 + j(14, 0.03))
  if unshifted:
    m.update(change_step=7 + seed % 3, legal_pre=0.13 + j(15, 0.02), legal=0.48 + j(16, 0.1))
    if key == common.SOURCE_SETUP:
      m['legal'] = 0.15 + j(17, 0.02)
  return m


def record(arm: str, grid: dict, seed: int, metrics: dict, status: str = 'ok') -> dict:
  return {'arm': arm, 'seed': seed, 'grid': grid, 'status': status, 'metrics': metrics}


LR_SPIKES = {1e-3: 2.0, 3e-3: 9.0}  # the logged spike of the source's setup at the sensitivity lrs


def make_runs(config, overrides: dict | None = None, lr_spikes: dict | None = None) -> list[dict]:
  """Records of every arm x setup x seed (+ the `<arm>_lrs` runs, logged spike from ``lr_spikes``)."""
  overrides = overrides or {}
  lr_spikes = LR_SPIKES if lr_spikes is None else lr_spikes
  sw, n = config.switch_step, config.num_steps
  runs = []
  for arm in common.ARMS:
    if arm not in config.arms:
      continue
    for g in common.setups(config):
      key = common.setup_key(g, n)
      grid = {k: float(v) for k, v in g.items()}
      for seed in range(config.num_seeds):
        m = default_metrics(key, seed, sw)
        for name, values in overrides.get((arm, key), {}).items():
          m[name] = values[seed]
        runs.append(record(arm, grid, seed, m))
    point = common.source_point(config)
    for lr in common.sensitivity_lrs(config, arm):
      grid = {k: float(v) for k, v in point.items()}
      grid['lr'] = lr * (1 + 1e-8)  # float32 in a real run: matched back to the config's value
      for seed in range(config.num_seeds):
        m = default_metrics(common.SOURCE_SETUP, seed, sw, logged_spike=lr_spikes.get(lr, 1000.0))
        runs.append(record(arm + common.LR_ARM_SUFFIX, grid, seed, m))
  return runs
