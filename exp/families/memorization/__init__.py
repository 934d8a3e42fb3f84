"""Family A — memorization: supervised learning vs RL with end-of-episode vs per-step reward.

Claim (write-up): SL needs ~2 episodes for every N, RL with a binary end-of-episode reward needs
episodes ∝ N^0.89 (R² 0.967), RL with a per-step reward times out; SL advantage 9×/64×/299×.

Toy (docs/families/memorization.md): per seed a fixed context x ~ N(0, I_d) and a target y* = ⌊u·N⌋,
u ~ U(0, 1) (so every N of a seed shares x, u and the initial parameters). MLP d→hidden→N_max with logits
≥ N masked, so N is a vmapped grid axis. One episode = one forward pass, one output, one Adam update. A run
is done at the start of episode k when argmax π = y* and π(y*) ≥ converge_prob; episodes to converge =
k = updates + 1.

Arms: ``sl`` (cross-entropy; its learning rate is a grid axis, a large and a small step), ``rl_eoe``
(REINFORCE, reward 1[a = y*], EMA baseline), ``rl_step`` (the write-up's shaped partial-credit reward
1 − |a − y*|/(N − 1), or −|a − y*|), ``rl_step_dense`` (the audit arm: y* emitted as ⌈log2 N⌉ binary
tokens, each rewarded for its own correctness).

Modules: ``program`` (the pure per-arm JAX functions), ``analysis`` (host statistics and audit numbers),
``checks`` and ``findings`` (the write-up's claims as checks over those numbers; the headline),
``report`` (the markdown report and plots). This file only wires them to the config.
"""

from __future__ import annotations

import numpy as np

from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment
from models.mlp import MLP

from . import analysis, program, report
from .analysis import ARMS, CLAIM, LABELS, analyze  # noqa: F401 - re-exported
from .program import MASK, num_bits  # noqa: F401 - re-exported
from .report import make_report  # noqa: F401 - re-exported

SHAPED = ('linear', 'neg_abs')


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  ns = tuple(config.ns)
  if not ns or any(isinstance(n, bool) or not isinstance(n, int) or n < 2 for n in ns):
    raise ConfigError('ns', f'must be a non-empty tuple of integers >= 2, got {ns}')
  if len(set(ns)) != len(ns):
    raise ConfigError('ns', f'has duplicates: {ns}')
  cfglib.require_positive_floats(config, 'sl_lrs')
  for key in ('rl_eoe_lr', 'rl_step_lr', 'rl_dense_lr'):
    cfglib.require_positive_floats(config, key)
  cfglib.require_int(config, 'context_dim', 1)
  cfglib.require_int(config, 'hidden', 1)
  if not 0.0 <= config.baseline_decay < 1.0:
    raise ConfigError('baseline_decay', f'must be in [0, 1), got {config.baseline_decay}')
  if not 0.0 < config.converge_prob <= 1.0:
    raise ConfigError('converge_prob', f'must be in (0, 1], got {config.converge_prob}')
  cfglib.require_choice(config, 'shaped_reward', SHAPED)


def _grid(ns, lrs) -> dict:
  """Every N with every learning rate, flattened (N outer)."""
  n_col = np.array([n for n in ns for _ in lrs], np.int32)
  lr_col = np.array([lr for _ in ns for lr in lrs], np.float32)
  return {'n': n_col, 'lr': lr_col}


def build(config) -> Experiment:
  ns = tuple(config.ns)
  n_max, bits_max = max(ns), num_bits(max(ns))
  decay, cp = config.baseline_decay, config.converge_prob

  cat_model = MLP(hidden=(config.hidden,), out=n_max)
  cat_logits = program.categorical_logits(cat_model, n_max)
  cat_view = program.cat_state_view(cat_logits)
  cat_init = program.make_init(cat_model, config.context_dim, 1)
  cat_eval, cat_done = program.make_eval(cat_view), program.make_done(cat_view, cp)

  bit_model = MLP(hidden=(config.hidden,), out=2 * bits_max)
  bit_view = program.bit_view_fn(bit_model, bits_max)
  bit_state = program.bit_state_view(bit_view)
  bit_init = program.make_init(bit_model, config.context_dim, bits_max)
  bit_eval, bit_done = program.make_eval(bit_state), program.make_done(bit_state, cp)

  def rl_step(kind):
    return program.make_rl_step(cat_logits, program.make_reward(kind, config.shaped_reward), decay, cp)

  specs = {
    'sl': (
      _grid(ns, tuple(config.sl_lrs)),
      cat_init,
      program.make_sl_step(cat_logits, cp),
      cat_eval,
      cat_done,
    ),
    'rl_eoe': (_grid(ns, (config.rl_eoe_lr,)), cat_init, rl_step('eoe'), cat_eval, cat_done),
    'rl_step': (_grid(ns, (config.rl_step_lr,)), cat_init, rl_step('shaped'), cat_eval, cat_done),
    'rl_step_dense': (
      _grid(ns, (config.rl_dense_lr,)),
      bit_init,
      program.make_dense_step(bit_view, decay, cp),
      bit_eval,
      bit_done,
    ),
  }
  arms = tuple(
    Arm(
      name=a,
      grid=specs[a][0],
      init=specs[a][1],
      step=specs[a][2],
      evaluate=specs[a][3],
      done=specs[a][4],
      step_reports_done=True,
      num_steps=config.num_steps,
    )
    for a in cfglib.arm_names(config)
  )
  return Experiment(name='memorization', arms=arms, analyze=analysis.analyze, report=report.make_report)
