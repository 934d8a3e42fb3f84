"""Names shared by the program, the analysis and the report: the noise conditions, the metrics, the
write-up's published numbers."""

from __future__ import annotations

ARMS = ('distill',)
# Noise conditions: grid points of the one arm, as (deletion on, dropout on).
CONDITIONS = {'clean': (0, 0), 'noisy': (1, 1), 'delete_only': (1, 0), 'dropout_only': (0, 1)}
CONDITION_IDS = {c: i for i, c in enumerate(CONDITIONS)}  # the 'condition' grid column names the point
# The write-up's published numbers: inputs to the audit and the side-by-side table, never results.
CLAIM = {
  'noisy': {'mean': 4.097, 'sd': 0.339, 'n': 10, 'ci95': (3.85, 4.34)},
  'clean': {'mean': 3.657, 'sd': 0.173, 'n': 10, 'ci95': (3.53, 3.78)},
  't': 3.66,
  'p': 0.0018,
  'g': 1.568,
  'variance_factor': 2.0,
}
# Thresholds of the findings' checks (exp/families/noisy_student/findings.py); each is shown in the
# sentence of every check that uses it.
ALPHA = 0.05  # significance level of every test a check decides on (95% CIs)
NO_EFFECT = 0.0  # a mean difference of zero
NO_RATIO = 1.0  # a variance ratio of one
EXACT_FLOOR = 0.05  # held-out exact match below this in every cell: exact match carries no information
# How closely the write-up's statistics, recomputed from its own means, SDs and n, must match what it
# published (half a unit of the last published digit, plus the rounding of the means and SDs).
CLAIM_TOLERANCE = {'t': 0.01, 'p': 0.0002, 'g': 0.005, 'ci': 0.006}
# Evaluated metrics, in table order; '<name>_early' holds the same after early_step updates.
METRICS = ('train_loss_noised', 'train_loss_clean', 'heldout_loss', 'heldout_exact', 'heldout_token_acc')
METRIC_LABELS = {
  'train_loss_noised': 'training loss, noised inputs (the claim)',
  'train_loss_clean': 'training loss, clean inputs',
  'heldout_loss': 'held-out loss, clean (unseen prompts)',
  'heldout_exact': 'held-out exact match vs program',
  'heldout_token_acc': 'held-out token accuracy vs program',
}
SERIES_LABELS = {
  'clean': 'clean',
  'noisy': 'noisy (deletion + dropout)',
  'delete_only': 'deletion only',
  'dropout_only': 'dropout only',
}
REGIMES = ('early', 'final')
LOSSES = ('train_loss_noised', 'train_loss_clean', 'heldout_loss')


def conditions(config) -> tuple[str, ...]:
  return (
    tuple(config.conditions)
    if not isinstance(config.conditions, str)
    else tuple(c.strip(' \'"()[]') for c in config.conditions.split(',') if c.strip(' \'"()[]'))
  )


def condition_of(grid: dict) -> str:
  return list(CONDITIONS)[int(grid['condition'])]


def metric_key(metric: str, regime: str) -> str:
  """The run-metric name of ``metric`` in ``regime`` ('early': after early_step updates; 'final')."""
  return f'{metric}_early' if regime == 'early' else metric


def find(rows: list[dict], metric: str, regime: str) -> dict | None:
  """The comparison row of ``metric`` in ``regime``, or None."""
  return next((r for r in rows if r['metric'] == metric and r['regime'] == regime), None)
