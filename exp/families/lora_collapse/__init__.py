"""Family B — LoRA mode collapse: is collapse binary at a learning-rate threshold?

Claim (write-up): LoRA fine-tunes at lr 2e-4 (rank 128) and 5e-5 (rank 64) collapsed to one constant output
string ("10000000") for every question (2% and 0% accuracy); lr 5e-6 (rank 32) reached 73.5% (the untuned
model: 73%). Collapse is binary at a learning-rate threshold.

Toy (docs/families/lora_collapse.md). Per seed a lookup task (exp/tasks/lookup.py): prompts of 4 tokens, two
additive mappings to 32 answers. The pretraining stage trains a base LookupMLP (models/lora.py) on mapping 1
with Adam, once per seed (cached by the runner). The arms fine-tune LoRA adapters (every Dense kernel, B = 0
at init, A ~ N(0, 1/fan_in), alpha = alpha_per_rank * r, scale alpha/r or alpha/sqrt(r) with ``rslora``) on
mapping 2 with Adam; the base stays frozen. The learning rate and the rank are both traced grid axes (the
rank masks a static max rank), so an arm's whole lr x rank x seed grid is one compiled program.

Arms: ``classify`` (the answer is one of 32 classes) and ``sequence`` (the answer is a string of 8 digit
tokens, predicted position by position, so a collapse is literally one constant string). Both pretrained
bases come from the one pretraining stage.

Collapse detector on the held-out prompts with greedy outputs (exp/tasks/lookup.py): number of distinct
outputs, normalized entropy of the output histogram, collapsed <=> one distinct output or normalized entropy
< 0.1; dead-ReLU fraction and logit variance across prompts.

Package layout: this module validates the config and wires the arms; ``program.py`` holds the pure JAX
functions, ``analysis.py`` and ``audit.py`` the host statistics, ``findings.py`` and ``findings_binary.py``
the findings (every conclusion as a check over those numbers), ``report.py``, ``report_tables.py`` and
``report_plots.py`` the markdown report and its plots.
"""

from __future__ import annotations

import math

from exp.core import validate as cfglib
from exp.core.experiment import ConfigError, Experiment
from exp.families.lora_collapse import analysis, program, report
from exp.families.lora_collapse.analysis import analyze
from exp.families.lora_collapse.program import ARMS, NUM_QUESTION_TOKENS
from exp.families.lora_collapse.report import make_report
from models import lora

__all__ = ['ARMS', 'PRETRAIN_KEYS', 'analyze', 'build', 'make_report', 'validate']

PRETRAIN_KEYS = (
  'arms',
  'vocab',
  'num_answers',
  'num_train',
  'num_heldout',
  'num_digits',
  'digit_base',
  'embed_dim',
  'hidden',
  'batch_size',
  'pretrain_steps',
  'pretrain_lr',
)


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  for key, lo in (
    ('vocab', 2),
    ('num_answers', 2),
    ('num_train', 1),
    ('num_heldout', 2),
    ('num_digits', 1),
    ('embed_dim', 1),
    ('batch_size', 1),
    ('pretrain_steps', 1),
  ):
    cfglib.require_int(config, key, lo)
  base = cfglib.require_int(config, 'digit_base', 2)
  if base > 10:
    raise ConfigError('digit_base', f'must be in [2, 10] (one character per digit), got {base}')
  hidden = cfglib.lookup(config, 'hidden')
  if (
    not isinstance(hidden, (tuple, list))
    or not hidden
    or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden)
  ):
    raise ConfigError('hidden', f'must be a non-empty tuple of positive integers, got {hidden!r}')
  total = config.vocab**NUM_QUESTION_TOKENS
  if config.num_train + config.num_heldout > total:
    raise ConfigError(
      'num_train',
      f'num_train + num_heldout must be <= {total} distinct prompts '
      f'(vocab**{NUM_QUESTION_TOKENS}), got {config.num_train} + {config.num_heldout}',
    )
  if math.ceil(math.log(config.num_answers, base) - 1e-9) > config.num_digits:
    raise ConfigError(
      'num_digits', f'{config.num_answers} answers need more than {config.num_digits} base-{base} digits'
    )
  cfglib.require_positive_floats(config, 'pretrain_lr')
  lrs = cfglib.lookup(config, 'lrs')
  if not isinstance(lrs, (tuple, list)) or not lrs:
    raise ConfigError('lrs', 'must be a non-empty tuple of positive learning rates')
  cfglib.require_positive_floats(config, 'lrs')
  if len(set(lrs)) != len(lrs):
    raise ConfigError('lrs', f'has duplicates: {tuple(lrs)}')
  alpha = cfglib.lookup(config, 'alpha_per_rank')
  if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
    raise ConfigError('alpha_per_rank', f'must be > 0 (alpha = alpha_per_rank * rank), got {alpha!r}')
  ranks = cfglib.lookup(config, 'ranks')
  if (
    not isinstance(ranks, (tuple, list))
    or not ranks
    or any(isinstance(r, bool) or not isinstance(r, int) for r in ranks)
  ):
    raise ConfigError('ranks', f'must be a non-empty tuple of integers, got {ranks!r}')
  if len(set(ranks)) != len(ranks):
    raise ConfigError('ranks', f'has duplicates: {tuple(ranks)}')
  models = program.make_models(config)
  for arm in cfglib.arm_names(config):
    try:
      lora.check_lora_args(ranks, [alpha * r for r in ranks], program.layer_dims(models[arm]))
    except ValueError as e:
      raise ConfigError('ranks', f'{e} (arm {arm})') from None
  if not isinstance(config.rslora, bool):
    raise ConfigError('rslora', f'must be True or False, got {config.rslora!r}')
  cfglib.require_float(config, 'band_decades', 0.0, low_open=True)
  band = cfglib.require_floats(config, 'intermediate_band', 0.0, 1.0)
  if len(band) != 2 or not band[0] < band[1]:
    raise ConfigError('intermediate_band', f'must be (lo, hi) with 0 <= lo < hi <= 1, got {band}')
  cfglib.require_float(config, 'max_intermediate', 0.0, 1.0)
  cfglib.require_float(config, 'max_width_decades', 0.0, low_open=True)
  cfglib.require_int(config, 'n_boot', 0)


def build(config) -> Experiment:
  models = program.make_models(config)
  pretrain, pretrain_output = program.pretrain_arm(config, models)
  arms = tuple(program.finetune_arm(config, models, a) for a in cfglib.arm_names(config))
  return Experiment(
    name='lora_collapse',
    arms=arms,
    analyze=analysis.analyze,
    report=report.make_report,
    pretrain=pretrain,
    pretrain_output=pretrain_output,
    pretrain_keys=PRETRAIN_KEYS,
  )
