"""Family I — model switching vs continued training: return on investment (ROI).

Claim (write-up): when baseline accuracy is poor, switching models beats training: training attempts of
2 h, 33 m, 11 m, 2.6 m gained −0.5…+0.2 %/min; a 5-minute model switch gained +19 points (+3.8 %/min),
"38× ROI"; a smaller model beat a 4.5× larger one.

Toy: an 8-class classification task per seed, labels from a random teacher argmax(B·φ(A·x)), x ~ N(0, I_16),
φ(h) = relu(h) + s·relu(−h) (s = ``teacher_neg_slope``: partly even in x, so a linear model is poorly suited).
Pretraining stage (once per seed, cached): the FIRST CHOICE, a linear classifier, is trained for
``first_steps`` (the decision point, accuracy acc0); a ZOO of one-hidden-layer ReLU MLPs of different widths
and recipes is prepared: 'related' = pretrained on a source task sharing the teacher's features A (a fresh
``source_classes``-way readout), 'unrelated' = pretrained on a source task with fresh features, 'scratch' =
not pretrained. Then the options, all from the same decision point and on the same data stream:

- ``continue``: keep training the first choice (same Adam state) for k more steps, k ∈ ``continue_steps``;
- ``switch``: take zoo candidate c, put a fresh 8-class head on it, fine-tune everything for b steps,
  b ∈ ``switch_steps``.

Cost is counted deterministically (the runner batches every option into one vmapped program, so per-option
wall clock is not separable, and on a CPU tiny models are overhead-bound): training FLOPs = 6 · batch ·
(multiply-adds of one forward pass) per step, and, as a second unit, optimizer steps. The zoo's pretraining
is a sunk cost in the write-up's accounting (a "5-minute switch"); the audit also charges it.
ROI = Δaccuracy (points, vs acc0, paired by seed) per cost unit.

Files: ``program.py`` (the pure per-arm functions), ``analysis.py`` (cost model, statistics), ``findings.py`` (the checks),
``report.py`` (the markdown report); models/zoo.py and losses/classification.py hold the model and loss
pieces. The write-up, the toy and the audit: docs/families/model_switch.md.
"""

from __future__ import annotations

import numpy as np

from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment

from . import analysis, program, report
from .analysis import options_of, ratio_boot  # noqa: F401 - re-exported: the family's public helpers
from .program import ARMS, RECIPES, as_tuple, candidate_names  # noqa: F401 - candidate_names re-exported

PRETRAIN_KEYS = (
  'input_dim',
  'num_classes',
  'teacher_width',
  'teacher_neg_slope',
  'source_classes',
  'batch_size',
  'eval_size',
  'first_steps',
  'first_lr',
  'zoo_widths',
  'zoo_recipes',
  'zoo_pretrain_steps',
  'zoo_lr',
)


def _validate_budgets(config) -> None:
  for key in ('continue_steps', 'switch_steps'):
    vals = as_tuple(config[key])
    if not vals:
      raise ConfigError(key, 'must be a non-empty tuple of positive step budgets')
    for v in vals:
      if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(key, f'must contain positive integers (step budgets), got {v!r}')
      if v > config.num_steps:
        raise ConfigError(key, f'budget {v} exceeds num_steps ({config.num_steps}), the cap on every budget')
    if len(set(vals)) != len(vals):
      raise ConfigError(key, f'has duplicates: {vals}')


def _validate_zoo(config) -> None:
  widths, recipes = as_tuple(config.zoo_widths), as_tuple(config.zoo_recipes)
  if not widths:
    raise ConfigError('zoo_widths', 'the zoo is empty: give at least one candidate (width, recipe)')
  for w in widths:
    if isinstance(w, bool) or not isinstance(w, int) or w < 1:
      raise ConfigError('zoo_widths', f'must contain positive integers (hidden units), got {w!r}')
  if len(recipes) != len(widths):
    raise ConfigError(
      'zoo_recipes', f'must have one recipe per zoo width ({len(widths)}), got {len(recipes)}'
    )
  for r in recipes:
    if r not in RECIPES:
      raise ConfigError('zoo_recipes', f'unknown recipe {r!r}; accepted: {", ".join(RECIPES)}')
  if len(set(zip(widths, recipes))) != len(widths):
    raise ConfigError('zoo_widths', 'names the same (width, recipe) candidate twice')


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  for key in ('input_dim', 'num_classes', 'teacher_width', 'source_classes', 'batch_size', 'eval_size'):
    cfglib.require_int(config, key, 1)
  if config.num_classes < 2:
    raise ConfigError('num_classes', f'must be >= 2, got {config.num_classes}')
  if config.source_classes < 2:
    raise ConfigError('source_classes', f'must be >= 2, got {config.source_classes}')
  cfglib.require_float(config, 'teacher_neg_slope', 0.0, 1.0)
  cfglib.require_int(config, 'first_steps', 1)
  cfglib.require_int(config, 'zoo_pretrain_steps', 0)
  _validate_budgets(config)
  _validate_zoo(config)
  for key in ('first_lr', 'zoo_lr', 'finetune_lr'):
    cfglib.require_positive_floats(config, key)
  cfglib.require_int(config, 'n_boot', 0)


def build(config) -> Experiment:
  s = program.setup(config)
  cont_steps, sw_steps = as_tuple(config.continue_steps), as_tuple(config.switch_steps)
  cont_grid = {'k': np.array(cont_steps, np.int32)}
  sw_grid = {
    'cand': np.array([c for c in range(s.Z) for _ in sw_steps], np.int32),
    'width': np.array([s.widths[c] for c in range(s.Z) for _ in sw_steps], np.int32),
    'budget': np.array([b for _ in range(s.Z) for b in sw_steps], np.int32),
  }
  specs = {
    'continue': Arm(
      'continue',
      cont_grid,
      *program.continue_fns(s),
      num_steps=max(cont_steps),
      done=program.budget_reached('k'),
    ),
    'switch': Arm(
      'switch',
      sw_grid,
      *program.switch_fns(s),
      num_steps=max(sw_steps),
      done=program.budget_reached('budget'),
    ),
  }
  arms = tuple(specs[a] for a in cfglib.arm_names(config))
  pre = Arm(
    'pretrain',
    {},
    program.pretrain_init(s),
    program.pretrain_step(s),
    program.pretrain_evaluate(s),
    num_steps=max(config.first_steps, config.zoo_pretrain_steps),
  )
  return Experiment(
    name='model_switch',
    arms=arms,
    analyze=analysis.analyze,
    report=report.make_report,
    pretrain=pre,
    pretrain_output=program.pretrain_output(s),
    pretrain_keys=PRETRAIN_KEYS,
  )
