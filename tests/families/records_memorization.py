"""Synthetic run records for the memorization family's analysis (no training): dicts shaped like
results.json 'runs', with episodes to converge drawn from simple laws of N."""

import numpy as np

DIVERGED = 'diverged'


def power(base, exponent, noise=0.0, per_seed=False):
  """Episodes ≈ base · N^exponent · exp(noise · z), z one standard normal draw per (seed, N), or per seed
  (the same at every N) when ``per_seed``."""

  def law(n, seed):
    z = np.random.default_rng(1000 * seed + (0 if per_seed else n)).standard_normal()
    return max(1, int(round(base * n**exponent * np.exp(noise * z))))

  return law


def const(episodes):
  return lambda n, seed: episodes


def censored(n, seed):
  return None


def run(arm, seed, n, lr, episodes):
  """One record: ``episodes`` is the episodes to converge (steps_to_done + 1), None for a run censored at
  the budget, or DIVERGED."""
  if episodes == DIVERGED:
    return {'arm': arm, 'seed': seed, 'grid': {'n': n, 'lr': lr}, 'status': 'diverged', 'metrics': {}}
  metrics = {
    'abs_err': 0.0,
    'entropy': 0.1,
    'first_success': 1,
    'p_target': 0.9,
    'steps_to_done': None if episodes is None else int(episodes) - 1,
  }
  return {'arm': arm, 'seed': seed, 'grid': {'n': n, 'lr': lr}, 'status': 'ok', 'metrics': metrics}


def records(config, laws):
  """Runs of every series in ``laws`` ({'sl', 'sl_small', 'rl_eoe', 'rl_step', 'rl_step_dense'} →
  law(n, seed) → episodes / None / DIVERGED) over config.ns × config.num_seeds seeds."""
  big, small = max(config.sl_lrs), min(config.sl_lrs)
  lr_of = {'sl': big, 'sl_small': small}
  lr_of |= {'rl_eoe': config.rl_eoe_lr, 'rl_step': config.rl_step_lr, 'rl_step_dense': config.rl_dense_lr}
  out = []
  for key, law in laws.items():
    arm = 'sl' if key.startswith('sl') else key
    for n in config.ns:
      for seed in range(config.num_seeds):
        out.append(run(arm, seed, n, lr_of[key], law(n, seed)))
  return out


def reproduced_laws():
  """Every write-up claim holds: SL flat at both steps, RL-EoE ∝ N^0.89 (SD small enough for g ≈ −8 at
  N = 10), RL-Step converges only at the smallest N, the dense reward flat."""
  return {
    'sl': const(2),
    'sl_small': power(30, 0.0, 0.1),
    'rl_eoe': power(20, 0.89, 0.15, per_seed=True),
    'rl_step': lambda n, seed: 7000 + 10 * seed if n == 10 else None,
    'rl_step_dense': power(10, 0.0, 0.2),
  }
