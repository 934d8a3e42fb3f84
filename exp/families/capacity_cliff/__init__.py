"""Family F — capacity cliff on structured output (Dyck-2 completion, "close the JSON").

Claim (write-up): below a size threshold models fail at structured output (~40% vs ~95% success).
Related: Wei et al. 2022 (emergent abilities); Schaeffer, Miranda, Koyejo, NeurIPS 2023 (jumps often come
from discontinuous metrics such as exact match: the "mirage" check).

Toy (docs/families/capacity_cliff.md): per seed a stream of random valid Dyck-2 prefixes (exp/tasks/dyck.py;
a fresh batch from each step's key, so every width of a seed sees the same batches) and a fixed held-out
evaluation set. One width-masked GRU LM (models/masked.py) of ``max_hidden`` units; the width (active units,
1 … max_hidden) is a traced grid axis, so every model size × every seed runs in ONE compiled program. Active
parameter count 3w² + 4Vw + 4w + V (V = 7): w = 1 → 42, w = 60 → 12 727. Trained with teacher forcing on
the closing tokens + EOS (Adam, global-norm clipping, cosine-decayed learning rate).

Metrics per run (held-out set, greedy decoding): exact success (generated = the unique minimal closing
sequence + EOS), permissive success (any well-formed completion with EOS exactly at balance), success by
prefix depth, teacher-forced per-token accuracy (the smooth metric), and the largest |param| of the masked
(inactive) units, which must stay exactly 0.

Statistics (analysis): a 4-parameter logistic in log10(active params) for exact success and for per-token
accuracy (center, 10–90% width, asymptotes in [0, 1], bootstrap CIs resampling whole seeds), a straight line
in log10(params) by AIC; per-width paired comparisons with the largest model (Student, Welch, paired t,
Hedges' g, Holm); the mirage check compares the two widths and the exact success predicted from per-token
accuracy as acc^(mean target length). The conclusions are checks in findings.py (the cliff, the mirage).

Package: this file (validate, build), program.py (the traced per-arm functions), analysis.py (analyze),
findings.py (build_findings), report.py (make_report).
"""

from __future__ import annotations

import numpy as np

from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment
from exp.families.capacity_cliff import analysis, program, report
from exp.families.capacity_cliff.analysis import CLAIM, MIN_FIT_WIDTHS, analyze  # noqa: F401 - re-exported
from exp.families.capacity_cliff.program import EVAL_STREAM  # noqa: F401 - re-exported
from exp.families.capacity_cliff.report import make_report  # noqa: F401 - re-exported

ARMS = ('gru',)


def validate(config) -> None:
  cfglib.validate_common(config, ARMS)
  max_hidden = cfglib.require_int(config, 'max_hidden', 1)
  widths = config.widths
  widths = (widths,) if isinstance(widths, int) else tuple(widths)
  if not widths:
    raise ConfigError('widths', f'must be a non-empty tuple of integers in [1, max_hidden={max_hidden}]')
  for w in widths:
    if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= max_hidden:
      raise ConfigError('widths', f'must contain integers in [1, max_hidden={max_hidden}], got {w!r}')
  if len(set(widths)) != len(widths):
    raise ConfigError('widths', f'has duplicates: {widths}')
  if len(widths) < MIN_FIT_WIDTHS:
    raise ConfigError(
      'widths', f'needs at least {MIN_FIT_WIDTHS} widths for the 4-parameter logistic fit, got {widths}'
    )
  cfglib.require_int(config, 'max_len', 1)
  cfglib.require_int(config, 'max_depth', 1)
  if config.max_depth > config.max_len:
    raise ConfigError('max_depth', f'must be <= max_len ({config.max_len}), got {config.max_depth}')
  if not 0.0 < config.p_open < 1.0:
    raise ConfigError('p_open', f'must be in (0, 1), got {config.p_open}')
  cfglib.require_int(config, 'batch_size', 1)
  cfglib.require_int(config, 'eval_batch', 1)
  cfglib.require_positive_floats(config, 'lr')
  cfglib.require_positive_floats(config, 'clip_norm')
  if not 0.0 <= config.lr_end_factor <= 1.0:
    raise ConfigError('lr_end_factor', f'must be in [0, 1], got {config.lr_end_factor}')
  cfglib.require_positive_floats(config, 'cliff_decades')
  cfglib.require_int(config, 'n_boot', 0)
  cfglib.require_int(config, 'n_boot_seeds', 0)


def widths_of(config) -> tuple[int, ...]:
  w = config.widths
  return (w,) if isinstance(w, int) else tuple(int(v) for v in w)


def build(config) -> Experiment:
  init, step, evaluate = program.make_gru(config)
  grid = {'width': np.array(widths_of(config), np.int32)}
  arms = tuple(
    Arm(name='gru', grid=grid, init=init, step=step, evaluate=evaluate, num_steps=config.num_steps)
    for a in cfglib.arm_names(config)
    if a == 'gru'
  )
  return Experiment(name='capacity_cliff', arms=arms, analyze=analysis.analyze, report=report.make_report)
