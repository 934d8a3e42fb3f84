"""Family G — adversarial generation and degenerate text (docs/families/degeneration.md).

Claim (write-up): in GAN-style joke generation an LLM judge scored outputs with obvious repetition loops
7.9/10; exact-duplicate deduplication caught duplicates across responses but not loops inside one.
Methods: SeqGAN (Yu et al. 2017); Holtzman et al. 2020 (degeneration); Welleck et al. 2020 (seq-rep-n).

Toy: template-grammar jokes (exp/tasks/jokes.py). Pretraining stage, once per seed: a generator LM and a
judge LM (a short-window reference LM whose likelihood stands in for an LLM judge's likelihood bias),
both by maximum likelihood. Arms, each starting from its seed's generator:
  ``mle``    more maximum-likelihood steps (the control);
  ``blind``  REINFORCE against an order-blind discriminator (mean of embeddings);
  ``aware``  REINFORCE against an order-aware discriminator (per-position embeddings).
Evaluation on ``eval_batch`` samples (the same noise in every arm of a seed): seq-rep-2/3/4, rep/l, the
longest repeat and its period, the loop flag (exp/metrics/degeneration.py), the judge's 0–10 score and
a well-formed-joke flag; host side (analysis.py): deflate compression against shuffled baselines,
distinct-n, the exact-duplicate ratio, and the AUROC of each score against the loop flag.

Package: this file (validate, build), program.py (the traced functions), analysis.py (analyze),
findings.py (build_findings), report.py (make_report).
"""

from __future__ import annotations

from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment
from exp.families.degeneration import analysis, program, report
from exp.families.degeneration.analysis import analyze  # noqa: F401 - re-exported
from exp.families.degeneration.report import make_report  # noqa: F401 - re-exported
from exp.tasks import jokes

ARMS = ('mle', 'blind', 'aware')
PRETRAIN_KEYS = (
  'seq_len',
  'window',
  'judge_window',
  'embed',
  'hidden',
  'pretrain_steps',
  'pretrain_batch',
  'pretrain_lr',
  'eval_batch',
  'rep_window',
  'loop_max_period',
  'loop_repeats',
  'loop_min_span',
)


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  seq_len = cfglib.require_int(config, 'seq_len', jokes.MIN_SEQ_LEN)
  window = cfglib.require_int(config, 'window', 1)
  if seq_len > window:
    raise ConfigError(
      'seq_len',
      f"{seq_len} exceeds the generator's context window ({window} tokens); accepted: "
      f'{jokes.MIN_SEQ_LEN} <= seq_len <= window, or a larger window',
    )
  judge = cfglib.require_int(config, 'judge_window', 1)
  if judge > window:
    raise ConfigError('judge_window', f'must be in [1, window = {window}], got {judge}')
  for key in ('embed', 'hidden', 'disc_embed', 'disc_hidden', 'pretrain_steps', 'pretrain_batch', 'batch'):
    cfglib.require_int(config, key, 1)
  cfglib.require_int(config, 'eval_batch', 2)
  for key in ('pretrain_lr', 'gen_lr', 'disc_lr'):
    cfglib.require_float(config, key, 0.0, low_open=True)
  cfglib.require_float(config, 'baseline_decay', 0.0, 1.0, high_open=True)
  cfglib.require_int(config, 'rep_window', 1)
  cfglib.require_int(config, 'loop_max_period', 1)
  cfglib.require_int(config, 'loop_repeats', 2)
  cfglib.require_int(config, 'loop_min_span', 2)
  ns = cfglib.require_ints(config, 'rep_ns', 1, unique=True)
  if max(ns) >= seq_len:
    raise ConfigError('rep_ns', f'must be in [1, seq_len − 1 = {seq_len - 1}], got {ns}')
  cfglib.require_int(config, 'n_baselines', 1)
  cfglib.require_float(config, 'alpha', 0.0, 1.0, low_open=True, high_open=True)
  cfglib.require_float(config, 'dup_bound', 0.0, 1.0)
  cfglib.require_float(config, 'auroc_bound', 0.5, 1.0, low_open=True, high_open=True)
  cfglib.require_float(config, 'judge_bound', 0.0, 10.0)
  cfglib.require_int(config, 'min_loops', 1)


def build(config) -> Experiment:
  pre_init, pre_step, pre_eval, pre_output = program.make_pretrain(config)
  pretrain = Arm('pretrain', {}, pre_init, pre_step, pre_eval, num_steps=config.pretrain_steps)
  arms = tuple(
    Arm(name, {}, *program.make_arm(config, name), num_steps=config.num_steps)
    for name in cfglib.arm_names(config)
  )
  return Experiment(
    name='degeneration',
    arms=arms,
    analyze=analysis.analyze,
    report=report.make_report,
    pretrain=pretrain,
    pretrain_output=pre_output,
    pretrain_keys=PRETRAIN_KEYS,
  )
