"""Family E — constitutional DPO persona pipeline (Open Character Training, Maiya et al. 2025).

Claim (write-up): introspective SFT → dialogue SFT (half the examples with the system prompt) →
constitutional DPO raises persona alignment 0.57 → 0.79 and the high-alignment rate 29% → 83%, lowers the
break rate 65% → 35%, and the persona survives without the system prompt in 84% of cases (47 runs, 5
personas). The cited pipeline runs DPO distillation first (chosen = teacher with the constitution in the
system prompt, rejected = the student's own answer, no system prompt in the DPO data), then introspective
SFT.

Toy (docs/families/persona_dpo.md, exp/tasks/persona.py): a WindowMLPLM pretrained per seed on a corpus
where, with SYS, about half the responses follow the persona and SYS + IGN mostly breaks (the pretraining
stage, cached). The constitution is an exact score s ∈ [0, 1]. The teacher is the base with SYS, best of
``teacher_best_of`` samples under s. One arm ``pipeline``: every phase order of ``config.orders`` is a
grid point ``order``, so every order of a seed starts from the seed's base and sees the same data and
noise (common random numbers). Phases switch on the step index (``phase_steps`` each); the model is
evaluated after every phase on the same prompts with the same sampling noise.

Package: this file (validate, build), common.py (names), program.py (the traced functions), analysis.py
(analyze), findings.py (the checks), report.py (make_report).
"""

from __future__ import annotations

import numpy as np

from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment
from exp.families.persona_dpo import analysis, program, report
from exp.families.persona_dpo.common import ARMS, ORDERS, order_names, slots  # noqa: F401 - re-exported
from exp.tasks import persona as P

PRETRAIN_KEYS = (
  'n_persona',
  'n_neutral',
  'n_successors',
  'response_len',
  'follow',
  'rho',
  'p_forbid',
  'p_stray',
  'p_sys',
  'p_ign',
  'p_intro',
  'window',
  'embed',
  'hidden',
  'pretrain_steps',
  'pretrain_batch',
  'pretrain_lr',
  'teacher_best_of',
  'pool_batches',
  'batch',
  'eval_batch',
)


def _validate_corpus(config) -> None:
  for key in ('n_persona', 'n_neutral', 'n_successors', 'response_len'):
    cfglib.require_int(config, key, 1)
  if config.n_successors > config.n_neutral:
    raise ConfigError(
      'n_successors', f'must be in [1, n_neutral = {config.n_neutral}], got {config.n_successors}'
    )
  if config.response_len < 2:
    raise ConfigError(
      'response_len', f'must be >= 2 (the constitution counts adjacent pairs), got {config.response_len}'
    )
  follow = config.follow
  ok = isinstance(follow, (tuple, list)) and len(follow) == 2
  ok = ok and all(isinstance(r, (tuple, list)) and len(r) == 3 for r in follow)
  ok = ok and all(
    not isinstance(x, bool) and isinstance(x, (int, float)) and 0 <= x <= 1 for r in follow for x in r
  )
  if not ok:
    raise ConfigError(
      'follow', f'must be 2 rows (NULL, SYS) of 3 probabilities (NULL, IGN, INTRO) in [0, 1], got {follow!r}'
    )
  for key in ('rho', 'p_forbid', 'p_stray', 'p_sys', 'p_ign', 'p_intro'):
    cfglib.require_float(config, key, 0.0, 1.0)
  if config.p_ign + config.p_intro > 1:
    raise ConfigError('p_intro', f'p_ign + p_intro must be <= 1, got {config.p_ign} + {config.p_intro}')


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  _validate_corpus(config)
  for key in ('window', 'embed', 'hidden', 'pretrain_steps', 'pretrain_batch', 'teacher_best_of'):
    cfglib.require_int(config, key, 1)
  for key in ('pool_batches', 'batch', 'eval_batch', 'phase_steps'):
    cfglib.require_int(config, key, 1)
  T = P.PROMPT_LEN + config.response_len
  if T > config.window:
    raise ConfigError(
      'response_len',
      f"{config.response_len} response tokens + {P.PROMPT_LEN} prompt tokens exceed the model's context "
      f'window ({config.window} tokens); accepted: response_len <= {config.window - P.PROMPT_LEN}, or a larger window',
    )
  cfglib.require_names(config, 'orders', tuple(ORDERS))
  need = slots(config) * config.phase_steps
  if config.num_steps != need:
    raise ConfigError(
      'num_steps',
      f'must be (phases of the longest order = {slots(config)}) x phase_steps ({config.phase_steps}) = {need}, '
      f'got {config.num_steps}',
    )
  for key in ('pretrain_lr', 'sft_lr', 'dpo_lr'):
    cfglib.require_float(config, key, 0.0, low_open=True)
  cfglib.require_float(config, 'beta', 0.0, low_open=True)
  cfglib.require_float(config, 'nll_coef', 0.0)
  for key in (
    'dialogue_sys_frac',
    'train_ign_frac',
    'high_threshold',
    'break_threshold',
    'survive_threshold',
  ):
    cfglib.require_float(config, key, 0.0, 1.0)
  cfglib.require_float(config, 'order_margin', 0.0, low_open=True)
  cfglib.require_float(config, 'nll_tolerance', 0.0)
  cfglib.require_float(config, 'div_tolerance', 0.0)


def build(config) -> Experiment:
  model = program.model_of(config)
  pre = program.make_pretrain(config, model)
  pretrain = Arm('pretrain', {}, *pre[:3], num_steps=config.pretrain_steps)
  grid = {'order': np.arange(len(order_names(config)), dtype=np.float32)}
  arm = Arm('pipeline', grid, *program.make_arm(config, model), num_steps=config.num_steps)
  return Experiment(
    name='persona_dpo',
    arms=(arm,),
    analyze=analysis.analyze,
    report=report.make_report,
    pretrain=pretrain,
    pretrain_output=pre[3],
    pretrain_keys=PRETRAIN_KEYS,
  )
