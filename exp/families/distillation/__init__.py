"""Family C — hybrid distillation collapse (off-policy → on-policy) and context distillation.

Claim (write-up): off-policy distillation followed by on-policy distillation (GKD) collapses at the switch:
the KL jumps 361× (0.015 → 5.445) in one step and the downstream score drops to 0, whatever the
teacher/student gap, even for same-model context distillation; on-policy alone reaches 2.5–6%.

Toy (docs/families/distillation.md): per seed a Markov task language (4 tasks, 12 content tokens, 3 successors each, no
self-loops; exp/tasks/languages.py) and a base causal LM (WindowMLPLM whose window spans the whole sequence)
pretrained on all tasks, the context token present half the time — the pretraining stage, cached by the
runner. Teacher = base with the target task's context token; student = base with NULL (arm ``context``:
context distillation, Snell et al. 2022) or a smaller WindowMLPLM initialised fresh (arm ``size_gap``).

One compiled program per arm; the setups are grid points (traced 0/1 switches), so every setup of a seed
shares the teacher, the teacher-sample pool, the student init and the sampling noise:
  ``switch``    first on-policy step: 0 = on-only, num_steps = off-only, switch_step = hybrid;
  ``unshifted`` the off-policy SFT loss: 0 = next-token CE (correct), 1 = the source's unshifted CE
                (input and target identical: a copy task);
  ``sampled``   the on-policy loss: 0 = the exact per-token divergence (GKD), 1 = the source's sampled-token
                estimator (advantage = clip(−(log p_S − log p_T), ±clip), policy gradient);
  ``stale``     1 = on-policy samples come from a sampler refreshed only at the switch (as in the source).
After the main arms, one arm ``<arm>_lrs`` per student arm runs the source's setup at each lr of
``config.sensitivity_lrs`` (a traced grid axis ``lr``): the report checks at which lrs the logged spike
exceeds ``spike_threshold``. Running last, they leave the main arms' runs and log lines unchanged.

Per step (before the update, on fresh student samples): ``kl_exact`` (exact per-token reverse KL),
``kl_est`` (the source's single-sample estimate), ``kl_est_stale`` (the same estimate on the stale
sampler's samples, with the sampler's own log-probs, as an inference server returns them), ``source_log``
(what the source's training log shows: the SFT loss while off-policy — no KL is measured there — and the
estimate on the training sampler once on-policy), ``legal`` (legal-transition rate of student
generations under the target task, the "downstream accuracy") and ``rep`` (seq-rep-2).
"""

from __future__ import annotations

import math

import numpy as np

from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment
from exp.families.distillation import analysis, program, report
from exp.families.distillation.common import (  # noqa: F401 - re-exported: tests and the report use them
  ARMS,
  CORRECT_SETUP,
  GRID_NAMES,
  LR_ARM_SUFFIX,
  ON_LOSSES,
  PROMPT,
  SCHEDULES,
  SFT_LOSSES,
  SOURCE_SETUP,
  arm_lr,
  sensitivity_lrs,
  setup_key,
  setup_label,
  setups,
  source_point,
)
from losses import distill
from models import lm

# The config values the pretraining stage depends on (its cache key).
PRETRAIN_KEYS = (
  'n_tasks',
  'n_content',
  'n_successors',
  'seq_len',
  'target_task',
  'window',
  'embed',
  'hidden',
  'pretrain_steps',
  'pretrain_batch',
  'pretrain_lr',
  'context_prob',
  'offpolicy_batches',
  'batch',
  'temperature',
  'eval_batch',
)


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  for key in (
    'n_tasks',
    'n_content',
    'seq_len',
    'window',
    'embed',
    'hidden',
    'student_embed',
    'student_hidden',
    'pretrain_steps',
    'pretrain_batch',
    'batch',
    'offpolicy_batches',
    'eval_batch',
  ):
    cfglib.require_int(config, key, 1)
  if config.n_content < 2:
    raise ConfigError('n_content', f'must be >= 2, got {config.n_content}')
  n_succ = cfglib.require_int(config, 'n_successors', 1)
  if n_succ >= config.n_content:
    raise ConfigError('n_successors', f'must be in [1, n_content - 1 = {config.n_content - 1}], got {n_succ}')
  target = cfglib.require_int(config, 'target_task', 0)
  if target >= config.n_tasks:
    raise ConfigError('target_task', f'must be in [0, n_tasks - 1 = {config.n_tasks - 1}], got {target}')
  if config.seq_len + PROMPT > config.window:
    raise ConfigError(
      'seq_len',
      f'{config.seq_len} content tokens + {PROMPT} header tokens exceed the '
      f"model's context window ({config.window} tokens); accepted: seq_len <= "
      f'{config.window - PROMPT}, or a larger window',
    )
  if config.seq_len < 2:
    raise ConfigError(
      'seq_len', f'must be >= 2 (legal and repetition rates need transitions), got {config.seq_len}'
    )
  for key in ('pretrain_lr', 'lr', 'size_gap_lr', 'clip'):
    v = cfglib.lookup(config, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
      raise ConfigError(key, f'must be a positive number, got {v!r}')
  temp = config.temperature
  if isinstance(temp, bool) or not isinstance(temp, (int, float)) or not temp > 0 or not math.isfinite(temp):
    raise ConfigError(
      'temperature', f'must be a finite number > 0 (sampling divides logits by it), got {temp!r}'
    )
  if not 0.0 <= config.context_prob <= 1.0:
    raise ConfigError('context_prob', f'must be in [0, 1], got {config.context_prob}')
  if not 0.0 < config.jsd_beta < 1.0:
    raise ConfigError('jsd_beta', f'must be in (0, 1), got {config.jsd_beta}')
  try:
    distill.get_divergence(config.divergence)
  except ValueError as e:
    raise ConfigError('divergence', str(e)) from None
  sw = cfglib.require_int(config, 'switch_step', 1)
  if sw >= config.num_steps:
    raise ConfigError(
      'switch_step',
      f'must be in [1, num_steps - 1 = {config.num_steps - 1}] so a hybrid has both phases, got {sw}',
    )
  cfglib.require_names(config, 'schedules', SCHEDULES)
  cfglib.require_names(config, 'sft_losses', SFT_LOSSES)
  cfglib.require_names(config, 'on_losses', ON_LOSSES)
  cfglib.require_bool(config, 'stale_sampler')
  cfglib.require_float(config, 'spike_threshold', 1.0, low_open=True)
  cfglib.require_float(config, 'change_drop', 0.0, 1.0, low_open=True, high_open=True)
  for lr in cfglib.require_floats(config, 'sensitivity_lrs', nonempty=False):
    if not lr > 0:
      raise ConfigError('sensitivity_lrs', f'must contain positive learning rates only, got {lr}')


def build(config) -> Experiment:
  vocab = program.dims(config).vocab
  base_model = lm.WindowMLPLM(vocab=vocab, window=config.window, hidden=config.hidden, embed=config.embed)
  small_model = lm.WindowMLPLM(
    vocab=vocab, window=config.window, hidden=config.student_hidden, embed=config.student_embed
  )
  pre_init, pre_step, pre_eval, pre_output = program.make_pretrain(config, base_model)
  pretrain = Arm('pretrain', {}, pre_init, pre_step, pre_eval, num_steps=config.pretrain_steps)
  students = {'context': base_model, 'size_gap': small_model}
  arms = []
  for name in cfglib.arm_names(config):
    fns = program.make_arm(config, base_model, students[name], arm_lr(config, name), name == 'size_gap')
    grid = {k: np.array([p[k] for p in setups(config)], np.float32) for k in GRID_NAMES}
    arms.append(Arm(name, grid, *fns, num_steps=config.num_steps))
  # After the main arms, so their runs (and metrics.jsonl lines) come first and are unchanged: the
  # source's setup once per learning rate in config.sensitivity_lrs, lr a traced grid axis.
  for name in cfglib.arm_names(config):
    lrs = sensitivity_lrs(config, name)
    if lrs:
      fns = program.make_arm(config, base_model, students[name], None, name == 'size_gap')
      point = source_point(config)
      grid = {k: np.full(len(lrs), point[k], np.float32) for k in GRID_NAMES}
      grid['lr'] = np.array(lrs, np.float32)
      arms.append(Arm(name + LR_ARM_SUFFIX, grid, *fns, num_steps=config.num_steps))
  return Experiment(
    name='distillation',
    arms=tuple(arms),
    analyze=analysis.analyze,
    report=report.make_report,
    pretrain=pretrain,
    pretrain_output=pre_output,
    pretrain_keys=PRETRAIN_KEYS,
  )
