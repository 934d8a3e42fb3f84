"""Family D — Noisy Student: token-level noise in distillation, with the claims audit.

Claim (write-up): token-level input noise (10% token deletion + 10% dropout) in distillation raises the
loss: 4.097 ± 0.339 vs 3.657 ± 0.173 (10 seeds), t = 3.66, p = 0.0018, Hedges' g = 1.568, and the noisy
arm has "2× higher variance". Method: Xie et al., "Self-training with Noisy Student improves ImageNet
classification", CVPR 2020 (noise on the student only, while it learns from the teacher's labels).

Toy (docs/families/noisy_student.md): a synthetic "spec -> code" language (``exp.tasks.languages``): a prompt of 6 symbols and a
10-token response, response token j = table[j, prompt[a_j], prompt[b_j]] (replaced by a random symbol with
a small probability: a fixed stochastic program of the prompt). Token layout PAD = 0, SEP = 1, symbols
from 2; LM sequences are ``[prompt, SEP, response]``.

- Pretraining stage (cached per seed): the program and a teacher window-MLP LM trained to convergence on
  fresh program samples. Its output is the teacher's parameters and the program.
- One arm, ``distill`` (``init`` from the seed's teacher, pure): the teacher greedily pseudo-labels
  ``n_train`` training prompts and ``n_heldout`` held-out prompts (held-out prompts that also occur in the
  training set are masked out of every held-out metric). A smaller student LM is trained on the
  pseudo-labelled training prompts with Adam, minibatches drawn from the per-step key.
- Noise conditions are the arm's grid points (``config.conditions``): ``clean`` (no noise), ``noisy``
  (each prompt token deleted with probability ``delete_p`` — delete and shift: kept tokens move left, PAD
  fills the freed slots before SEP — and dropout ``dropout`` on the student, in training only), and the
  ablations ``delete_only`` and ``dropout_only``. The grid values are traced: deletion takes p traced, and
  since flax's dropout rate is static the step traces the dropout and the deterministic forward pass and
  selects one. So all conditions share one compile, and every condition of a seed shares data, labels,
  initial student, minibatch order and deletion draws (common random numbers; paired tests).
- 40 steps (the claim's regime) and 400 steps (over-fitting) come from one run: the student's parameters
  after ``early_step`` updates are snapshotted in the state and evaluated at the end beside the final
  ones. With a constant learning rate and the per-step key fold_in(run_key, step), that snapshot is
  exactly what a separate 40-step run would give, without a second compile.

Metrics (both regimes): training loss on noised inputs (the condition's own noise, ``noise_draws`` draws over
the whole training set: what the claim reports), clean training loss, clean held-out loss on unseen
prompts (against the teacher's pseudo-labels), held-out exact match and token accuracy of the student's
greedy output against the noise-free program.

The write-up, the toy, the statistics and the audit for readers: docs/families/noisy_student.md.

Code: ``program.py`` (the pure per-run JAX functions), ``analysis.py`` (statistics on the host),
``findings.py`` and ``variance.py`` (every conclusion as a check, grouped into findings), ``report.py`` (the
markdown report and plots), ``common.py`` (conditions, metric names, the write-up's published numbers and
the checks' thresholds).
"""

from __future__ import annotations

import numpy as np

from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment
from exp.families.noisy_student import analysis, program, report
from exp.families.noisy_student.analysis import claim_audit, claim_samples, per_seed  # noqa: F401
from exp.families.noisy_student.common import (  # noqa: F401 - re-exported for tests and callers
  ARMS,
  CLAIM,
  CONDITION_IDS,
  CONDITIONS,
  LOSSES,
  METRIC_LABELS,
  METRICS,
  REGIMES,
  SERIES_LABELS,
  condition_of,
  conditions,
)
from exp.families.noisy_student.program import flat_init, seq_len  # noqa: F401
from models.lm import make_apply_fn

PRETRAIN_KEYS = (
  'n_symbols',
  'prompt_len',
  'response_len',
  'program_noise',
  'window',
  'teacher_hidden',
  'teacher_embed',
  'pretrain_steps',
  'pretrain_lr',
  'pretrain_batch',
  'n_heldout',
)


def _int_keys():
  return (
    ('n_symbols', 2),
    ('prompt_len', 2),
    ('response_len', 1),
    ('window', 1),
    ('teacher_hidden', 1),
    ('teacher_embed', 1),
    ('pretrain_steps', 1),
    ('pretrain_batch', 1),
    ('n_train', 2),
    ('n_heldout', 2),
    ('hidden', 1),
    ('embed', 1),
    ('batch_size', 1),
    ('noise_draws', 1),
    ('curve_heldout', 1),
    ('early_step', 1),
  )


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  for key, minimum in _int_keys():
    cfglib.require_int(config, key, minimum)
  for key in ('lr', 'pretrain_lr'):  # one learning rate each, not a sweep
    cfglib.require_float(config, key, 0.0, low_open=True)
  for key in ('delete_p', 'dropout', 'program_noise'):
    v = cfglib.lookup(config, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
      raise ConfigError(key, f'must be a probability in [0, 1), got {v!r}')
  seq = config.prompt_len + 1 + config.response_len
  if seq > config.window:
    raise ConfigError(
      'window',
      f'the sequence (prompt_len + 1 + response_len = {seq} tokens) exceeds the '
      f'model context window = {config.window}; raise window or shorten the sequence',
    )
  if config.early_step > config.num_steps:
    raise ConfigError('early_step', f'must be <= num_steps ({config.num_steps}), got {config.early_step}')
  if config.batch_size > config.n_train:
    raise ConfigError('batch_size', f'must be <= n_train ({config.n_train}), got {config.batch_size}')
  if config.curve_heldout > config.n_heldout:
    raise ConfigError(
      'curve_heldout', f'must be <= n_heldout ({config.n_heldout}), got {config.curve_heldout}'
    )
  conds = conditions(config)
  if not conds or any(c not in CONDITIONS for c in conds) or len(set(conds)) != len(conds):
    raise ConfigError(
      'conditions', f'must name distinct conditions among {", ".join(CONDITIONS)}, got {conds}'
    )
  if 'clean' not in conds or 'noisy' not in conds:
    raise ConfigError('conditions', f'must include clean and noisy (the claim compares them), got {conds}')


def build(config) -> Experiment:
  teacher, student = program.make_models(config)
  teacher_apply = make_apply_fn(teacher)
  target_mask = program.make_target_mask(config)
  pre_init, pre_step, pre_eval, pre_output = program.make_pretrain(
    config, teacher, teacher_apply, target_mask
  )
  init, step, evaluate = program.make_distill(config, student, teacher_apply, target_mask)

  conds = conditions(config)
  grid = {
    'condition': np.array([CONDITION_IDS[c] for c in conds], np.int32),
    'delete_p': np.array([CONDITIONS[c][0] * config.delete_p for c in conds], np.float32),
    'dropout': np.array([CONDITIONS[c][1] * config.dropout for c in conds], np.float32),
  }
  arms = tuple(
    Arm(name=a, grid=grid, init=init, step=step, evaluate=evaluate, num_steps=config.num_steps)
    for a in cfglib.arm_names(config)
  )
  pre = Arm('pretrain', {}, pre_init, pre_step, pre_eval, num_steps=config.pretrain_steps)
  return Experiment(
    name='noisy_student',
    arms=arms,
    analyze=analysis.analyze,
    report=report.make_report,
    pretrain=pre,
    pretrain_output=pre_output,
    pretrain_keys=PRETRAIN_KEYS,
  )
