"""Capacity cliff on structured output: Dyck-2 completion vs model size (docs/families/capacity_cliff.md).

Command:
  python run.py --config=configs/capacity_cliff.py --workdir=/tmp/capacity_cliff
  python run.py --config=configs/capacity_cliff.py:smoke --workdir=/tmp/capacity_cliff_smoke   # seconds, for tests

Runtime: full config (11 widths 1…60 = 42…12 727 active params × 10 seeds = 110 runs in one compiled
program, 500 steps) 1 min 16 s wall on an idle 2-core CPU, including compile and the bootstrap fits (~8 s);
5 min 14 s when the machine was shared at load average ~8. The smoke variant takes
about 25 s wall (mostly compile).

Expected result (measured, 10 seeds 0–9): no cliff. Mean exact success rises gradually with size: 7% (w=1,
42 params), 31% (83), 48% (130), 65% (183), 85% (455), 92% (823), 96% (1555), 99% (12 727). 4PL 10–90%
width 1.04 decades [0.81, 1.26] (asymptotes in [0, 1], CI by seed; the claim's cliff criterion is < 0.5),
model-free 40% → 95% span 1.08 decades (≈106 → ≈1266 params). Per-token accuracy rises over the same span
(width 1.24; paired-bootstrap width difference 0.20 [−0.26, 0.50], inside ±0.5), so there is no "mirage"
jump to explain; exact ≈ acc^L within 8 points. The per-depth thresholds move from ≈93 params (depth 1) to
≈916 (depth 6): the aggregate averages them.
"""

from configs.common import base_config, variant


def get_config(arg=None):
  c = base_config(
    'capacity_cliff',
    ('gru',),
    num_steps=500,  # Adam steps, one fresh batch each (drawn from the step key: shared by all widths)
    chunk_steps=250,
    log_every=25,
  )

  # model sizes: active GRU units, a log grid; one traced grid axis of a max_hidden-unit masked GRU
  c.widths = (1, 2, 3, 4, 5, 8, 12, 18, 27, 40, 60)
  c.max_hidden = 60  # active params 3w² + 4·7·w + 4w + 7: 42 (w=1) … 12 727 (w=60)
  # Dyck-2 task: random valid prefixes, target = the unique closing sequence + EOS
  c.max_len = 10
  c.max_depth = 6
  c.p_open = 0.6  # > 0.5 gives a flatter depth distribution
  c.batch_size = 16
  c.eval_batch = 256  # held-out prefixes per seed (the same for every width of a seed)
  # optimizer: Adam, cosine decay from lr to lr·lr_end_factor, global-norm clipping
  c.lr = 0.03
  c.lr_end_factor = 0.02
  c.clip_norm = 1.0
  # statistics
  c.cliff_decades = 0.5  # "cliff" when the 10–90% rise spans less than this many decades of params
  c.n_boot = 1000  # bootstrap resamples (of whole seeds) for the 4PL center/width CIs
  c.n_boot_seeds = 200  # seed bootstrap: mirage check (width difference) and per-depth centre CIs

  return variant(
    c,
    arg,
    smoke=dict(
      num_seeds=2,
      widths=(1, 2, 4, 8, 16),  # at least 5 widths: the 4PL fit has 4 parameters
      max_hidden=16,
      max_len=6,
      max_depth=3,
      num_steps=40,
      chunk_steps=20,
      log_every=10,
      batch_size=8,
      eval_batch=32,
      n_boot=20,
      n_boot_seeds=10,
    ),
  )
