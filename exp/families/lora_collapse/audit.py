"""The numbers of the LoRA collapse claim audit (host, numpy): the write-up's runs (inputs to the claim
and the audit checks, never results), how far apart its runs were in lr and rank, the toy's rank ratio,
and the gain over the untuned base at the smallest and at the best lr. Every conclusion drawn from them is
a check in ``findings.py``. See docs/families/lora_collapse.md.
"""

from __future__ import annotations

import math

# The write-up's runs: the claim's published numbers and the audit's inputs (never used as results).
CLAIM_RUNS = (
  {'lr': 2e-4, 'rank': 128, 'accuracy': 0.02, 'collapsed': True},
  {'lr': 5e-5, 'rank': 64, 'accuracy': 0.00, 'collapsed': True},
  {'lr': 5e-6, 'rank': 32, 'accuracy': 0.735, 'collapsed': False},
)
CLAIM_UNTUNED = 0.73


def source_numbers() -> dict:
  """The write-up's runs as named numbers: lr, rank and accuracy of each, whether it collapsed, and the gap
  between its collapsed runs and its working run (decades of lr, factor in rank)."""
  collapsed = [r for r in CLAIM_RUNS if r['collapsed']]
  working = [r for r in CLAIM_RUNS if not r['collapsed']]
  return {
    'runs': [dict(r) for r in CLAIM_RUNS],
    'untuned': CLAIM_UNTUNED,
    'working_accuracy': working[0]['accuracy'],
    'collapsed_accuracy_max': max(r['accuracy'] for r in collapsed),
    'lr_gap_decades': math.log10(collapsed[0]['lr'] / working[0]['lr']),
    'rank_ratio': collapsed[0]['rank'] / working[0]['rank'],
    'working_gain': working[0]['accuracy'] - CLAIM_UNTUNED,
    'working_gain_share': (working[0]['accuracy'] - CLAIM_UNTUNED) / (1.0 - CLAIM_UNTUNED),
  }


def _gains(g) -> dict | None:
  """Gain over the untuned base (medians) at the smallest lr and at the best lr, also as a share of the
  headroom 1 − base; whether the smallest lr collapsed."""
  rows, base = g['rows'], g['base_accuracy_median']
  if base is None or not g['peak'] or rows[0]['accuracy_median'] is None:
    return None
  room = 1.0 - base
  gain_small = rows[0]['accuracy_median'] - base
  gain_best = g['peak']['accuracy_median'] - base
  return {
    'smallest_lr': rows[0]['lr'],
    'smallest_collapsed': rows[0]['collapsed'],
    'smallest_n': rows[0]['n'] - rows[0]['diverged'],
    'gain_smallest': gain_small,
    'share_smallest': gain_small / room if room > 0 else None,
    'best_lr': g['peak']['lr'],
    'gain_best': gain_best,
    'share_best': gain_best / room if room > 0 else None,
    'base': base,
  }


def audit(an: dict, config) -> dict:
  """The audited arm (classify when run), the write-up's numbers, the toy's rank ratio and the gains."""
  del config
  arm = 'classify' if 'classify' in an['arms'] else next(iter(an['arms']), None)
  out = {'arm': arm, 'source': source_numbers()}
  if arm is None:
    return out
  a = an['arms'][arm]
  re = a['rank_effect']
  if re:
    out['rank_ratio'] = re['ranks'][1] / re['ranks'][0]
  out['gains'] = {r: gn for r, g in a['by_rank'].items() if (gn := _gains(g)) is not None}
  return out


def lr_txt(lr) -> str:
  return 'lr –' if lr is None else f'{lr:.3g}'
