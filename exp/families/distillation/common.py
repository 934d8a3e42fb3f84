"""Names shared by the distillation family's modules: arms, the write-up's numbers, and the setups.

A setup is one grid point of an arm: ``{'switch', 'unshifted', 'sampled', 'stale'}`` (see the package
docstring); ``setup_key`` names it ('hybrid/unshifted/sampled/stale') and ``setup_label`` words it.
"""

from __future__ import annotations

from exp.core import validate as cfglib

ARMS = ('context', 'size_gap')
ARM_LABELS = {
  'context': 'context distillation (student = base without context)',
  'size_gap': 'size gap (smaller student, fresh init)',
}
SCHEDULES = ('on_only', 'off_only', 'hybrid')
SFT_LOSSES = ('shifted', 'unshifted')
ON_LOSSES = ('exact', 'sampled')
PROMPT = 2  # [BOS, CTX_task | NULL]
# The write-up's published numbers: inputs to the claim row and the audit, never used as results.
CLAIM = {
  'kl_before': 0.015,
  'kl_after': 5.4453,
  'ratio_reported': 361.0,
  'downstream_hybrid': 0.0,
  'downstream_on_only': (0.025, 0.06),
}
AT_SWITCH = 10  # a change point in [switch, switch + AT_SWITCH) counts as a collapse "at the switch"
JUMP_FACTOR = 2.0  # the exact KL "jumps" at the switch when its ratio's 95% CI lies above this
ALPHA = 0.05  # significance level of the Holm-corrected tests the checks read
LR_ARM_SUFFIX = '_lrs'  # arm `<arm>_lrs`: the source's setup at config.sensitivity_lrs (lr a grid axis)
MEASURES = ('fresh', 'stale', 'source')
MEASURE_LABELS = {
  'fresh': 'exact reverse KL, fresh student samples',
  'stale': 'single-sample estimate, stale sampler',
  'source': "the source's log (SFT loss before the switch, estimate after)",
}
SOURCE_SETUP = 'hybrid/unshifted/sampled/stale'  # the source's pipeline
CORRECT_SETUP = 'hybrid/shifted/exact'  # the corrected one
GRID_NAMES = ('switch', 'unshifted', 'sampled', 'stale')


def setups(config) -> list[dict]:
  """The grid points of every arm, in report order: [{'switch', 'unshifted', 'sampled', 'stale'}]."""
  sched, sfts, ons = (
    cfglib.split_names(config.schedules),
    cfglib.split_names(config.sft_losses),
    cfglib.split_names(config.on_losses),
  )
  n, sw = config.num_steps, config.switch_step
  out = []
  if 'on_only' in sched:
    out += [dict(switch=0, unshifted=0, sampled=int(o == 'sampled'), stale=0) for o in ons]
  if 'off_only' in sched:
    out += [dict(switch=n, unshifted=int(s == 'unshifted'), sampled=0, stale=0) for s in sfts]
  if 'hybrid' in sched:
    out += [
      dict(switch=sw, unshifted=int(s == 'unshifted'), sampled=int(o == 'sampled'), stale=0)
      for o in ons
      for s in sfts
    ]
    if config.stale_sampler and 'sampled' in ons:
      out += [dict(switch=sw, unshifted=int(s == 'unshifted'), sampled=1, stale=1) for s in sfts]
  return out


def arm_lr(config, arm: str) -> float:
  """The learning rate of an arm's main grid (config.lr for `context`, config.size_gap_lr for `size_gap`)."""
  return float(config.size_gap_lr if arm == 'size_gap' else config.lr)


def source_point(config) -> dict | None:
  """The source's setup as a grid point, or None when the configured grid does not run it."""
  for g in setups(config):
    if setup_key(g, config.num_steps) == SOURCE_SETUP:
      return g
  return None


def sensitivity_lrs(config, arm: str) -> tuple[float, ...]:
  """The learning rates the arm `<arm>_lrs` runs the source's setup at: config.sensitivity_lrs without
  the arm's own lr (its main grid already runs that one); () when the source's setup is not run."""
  if source_point(config) is None:
    return ()
  main = arm_lr(config, arm)
  return tuple(float(x) for x in cfglib.split_names(config.sensitivity_lrs) if float(x) != main)


def setup_key(grid: dict, num_steps: int) -> str:
  sw = int(round(grid['switch']))
  sched = 'on_only' if sw <= 0 else 'off_only' if sw >= num_steps else 'hybrid'
  parts = [sched]
  if sched != 'on_only':
    parts.append('unshifted' if grid['unshifted'] > 0.5 else 'shifted')
  if sched != 'off_only':
    parts.append('sampled' if grid['sampled'] > 0.5 else 'exact')
  if grid['stale'] > 0.5:
    parts.append('stale')
  return '/'.join(parts)


def setup_label(key: str) -> str:
  words = {
    'on_only': 'on-only',
    'off_only': 'off-only',
    'hybrid': 'hybrid',
    'shifted': 'shifted SFT',
    'unshifted': 'unshifted SFT (bug)',
    'exact': 'exact KL',
    'sampled': 'sampled est.',
    'stale': 'stale sampler',
  }
  return ', '.join(words[p] for p in key.split('/'))
