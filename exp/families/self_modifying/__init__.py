"""Family H — self-modifying network vs fixed architecture, with auxiliary objectives ("0/3 wins").

Claim (the post-mortem): a fixed-architecture baseline reached 69.80%; a self-modifying network with
synthetic labels 58.30%, with entropy regularization + an auxiliary loss 42.76%, with direct entropy
constraints 57.57%. Named causes: auxiliary losses conflict with the primary loss; the architecture keeps
moving while the gradients settle; the validation split changed the data distribution (a 13% cliff).
Audit: 69.80 − 13 ≈ 57, so two of the three "failures" sit one split cliff below the baseline; the
factorial {fixed, self-modifying} × objectives × {random, tail split} × seeds says where drops come from.

Toy (docs/families/self_modifying.md): a noisy-teacher file grouped by label (exp/tasks/ordered_file.py),
a masked MLP that grows (Net2WiderNet), prunes and rewires (RigL) itself (models/growing.py), auxiliary
objectives and PCGrad (losses/auxiliary.py), in-step gradient-conflict diagnostics (exp/metrics/conflict.py),
host-side split-shift diagnostics (exp/analysis/shift.py). One arm, ``factorial``: architecture, objective
(coefficients and the PCGrad flag) and split are all traced grid axes, so the whole design is one program.

Package: this file (validate, build), program.py (the traced per-arm functions), analysis.py (analyze),
findings.py (build_findings), report.py (make_report).
"""

from __future__ import annotations

import itertools

import numpy as np

from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment

from . import analysis, program, report
from .program import ARMS, COEFS, OBJECTIVES

ARCHITECTURES = ('fixed', 'selfmod')
SPLITS = ('random', 'tail')


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  cfglib.require_names(config, 'objectives', OBJECTIVES)
  cfglib.require_names(config, 'architectures', ARCHITECTURES)
  cfglib.require_names(config, 'splits', SPLITS)
  for key in ('input_dim', 'teacher_width', 'file_size', 'test_size', 'batch_size', 'max_width'):
    cfglib.require_int(config, key, 1)
  for key in ('num_classes', 'aux_classes'):
    cfglib.require_int(config, key, 2)
  H = config.max_width
  for key in ('width', 'min_width'):
    v = cfglib.require_int(config, key, 1)
    if v > H:
      raise ConfigError(key, f'must be an integer in [1, max_width={H}], got {v}')
  if config.min_width > config.width:
    raise ConfigError('min_width', f'must be <= width ({config.width}), got {config.min_width}')
  cfglib.require_int(config, 'modify_every', 1)
  cfglib.require_int(config, 'grow_units', 0)
  cfglib.require_int(config, 'prune_units', 0)
  cfglib.require_float(config, 'label_noise', 0.0, 1.0)
  cfglib.require_float(config, 'jitter', 0.0)
  cfglib.require_float(config, 'val_frac', 0.0, 1.0, low_open=True, high_open=True)
  nv = program.n_val(config)
  if not 2 <= nv <= config.file_size - 2:
    raise ConfigError(
      'val_frac', f'must leave >= 2 rows in each split of {config.file_size}, got {nv} validation rows'
    )
  cfglib.require_float(config, 'density', 0.0, 1.0, low_open=True)
  cfglib.require_float(config, 'rewire_alpha', 0.0, 1.0)
  cfglib.require_float(config, 'modify_until', 0.0, 1.0)
  for key in ('growth_noise', 'entropy_coef', 'aux_coef', 'pseudo_coef', 'min_effect'):
    cfglib.require_float(config, key, 0.0)
  cfglib.require_float(config, 'lr', 0.0, low_open=True)
  cfglib.require_float(config, 'alpha', 0.0, 1.0, low_open=True, high_open=True)
  cfglib.require_int(config, 'shift_sample', 4)
  cfglib.require_int(config, 'mmd_permutations', 1)


def grid_of(config) -> dict:
  """The factorial's grid: architecture × objective × split (a product, flattened), with each point's
  coefficients (0 for the terms its objective does not use) and PCGrad flag."""
  archs = cfglib.split_names(config.architectures)
  objs = cfglib.split_names(config.objectives)
  splits = cfglib.split_names(config.splits)
  cells = list(itertools.product(archs, objs, splits))
  grid = {
    'selfmod': np.array([a == 'selfmod' for a, _, _ in cells], np.int32),
    'objective': np.array([OBJECTIVES.index(o) for _, o, _ in cells], np.int32),
    'tail': np.array([s == 'tail' for _, _, s in cells], np.int32),
    'pcgrad': np.array([o == 'pcgrad' for _, o, _ in cells], np.int32),
  }
  for key in ('entropy_coef', 'aux_coef', 'pseudo_coef'):
    grid[key] = np.array([float(config[key]) if key in COEFS[o] else 0.0 for _, o, _ in cells], np.float32)
  return grid


def build(config) -> Experiment:
  arms = (Arm('factorial', grid_of(config), *program.make_arm(config), num_steps=config.num_steps),)
  return Experiment(name='self_modifying', arms=arms, analyze=analysis.analyze, report=report.make_report)
