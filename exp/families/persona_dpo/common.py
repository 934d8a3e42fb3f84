"""Names shared by the persona_dpo family's modules: the arm, the phases and phase orders, the write-up's
numbers, the metrics and the thresholds' meanings (docs/families/persona_dpo.md)."""

from __future__ import annotations

from exp.core import validate as cfglib

ARMS = ('pipeline',)  # one compiled program; the phase orders are points of its grid axis `order`
PHASES = ('intro', 'dialogue', 'dpo')  # introspective SFT, dialogue SFT, constitutional DPO
PHASE_CODE = {'idle': 0, 'intro': 1, 'dialogue': 2, 'dpo': 3}
ORDERS = {
  'claimed': ('intro', 'dialogue', 'dpo'),  # the write-up's order
  'cited': ('dpo', 'intro'),  # the cited pipeline's order (DPO distillation, then introspective SFT)
  'dpo_only': ('dpo',),
  'sft_only': ('intro', 'dialogue'),
}
ORDER_LABELS = {
  'claimed': 'claimed: intro SFT → dialogue SFT → DPO',
  'cited': 'cited pipeline: DPO → intro SFT',
  'dpo_only': 'DPO only',
  'sft_only': 'SFT only: intro SFT → dialogue SFT',
}
MAX_SLOTS = 3  # phases of the longest order; a run is evaluated after each slot (snapshots 1..3)

# The write-up's numbers (47 runs, 5 personas): comparison targets only, never results.
CLAIM = {
  'alignment_before': 0.57,
  'alignment_after': 0.79,
  'high_before': 0.29,
  'high_after': 0.83,
  'break_before': 0.65,
  'break_after': 0.35,
  'survive': 0.84,
  'runs': 47,
  'personas': 5,
}
ALPHA = 0.05  # level of the Holm-corrected paired tests the checks read

# Per-snapshot evaluation metrics (suffix _k, k = 0 base .. 3 after the third slot).
EVAL_METRICS = (
  'align_sys',  # mean s with SYS
  'align_nosys',  # mean s without SYS
  'high_sys',  # rate of s >= high_threshold with SYS
  'high_nosys',
  'break_ign_sys',  # rate of s < break_threshold on SYS + IGN prompts
  'break_ign',  # the same on IGN prompts without SYS
  'survive',  # rate of s >= survive_threshold without SYS
  'div_nosys',  # distinct bigrams / bigrams of the no-SYS responses
  'nll_neutral',  # per-token NLL on held-out neutral text (capability kept)
)


METRIC_LABELS = {
  'align_sys': 'alignment, SYS',
  'align_nosys': 'alignment, no SYS',
  'high_sys': 'high-alignment rate, SYS',
  'high_nosys': 'high-alignment rate, no SYS',
  'break_ign_sys': 'break rate, SYS + IGN',
  'break_ign': 'break rate, IGN',
  'survive': 'survival without SYS',
  'div_nosys': 'diversity (distinct bigrams), no SYS',
  'nll_neutral': 'neutral-text NLL',
}


def order_names(config) -> tuple[str, ...]:
  return cfglib.split_names(config.orders)


def order_of(grid_value: float, config) -> str:
  """The order name of a run's grid value (its index into config.orders)."""
  return order_names(config)[int(round(grid_value))]


def slots(config) -> int:
  """Slots of phase_steps steps that the selected orders need (the longest order's phase count)."""
  return max(len(ORDERS[o]) for o in order_names(config))


def final_snapshot(order: str) -> int:
  """The snapshot index after an order's last phase."""
  return len(ORDERS[order])
