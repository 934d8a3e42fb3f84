"""Memorization: supervised learning vs RL with end-of-episode vs per-step reward (docs/families/memorization.md).

Command:
  python run.py --config=configs/memorization.py --workdir=/tmp/mem
  python run.py --config=configs/memorization.py:smoke --workdir=/tmp/mem_smoke     # seconds, for tests

Runtime: full config (4 arms, N ∈ {10, 100, 500}, 10 seeds, budget 10 000 episodes) about 1 minute on a
2-core CPU including compile (see README "Benchmarks"); the smoke variant a few seconds.

Expected result: SL with the large step converges in 2 episodes at every N (exponent ≈ 0, CI covering 0),
SL with the small step needs a few more episodes growing slowly with N; RL-EoE's episodes scale roughly
linearly in N (exponent CI near 1); the shaped RL-Step mostly times out at N ≥ 100; the dense per-token
reward behaves like SL (a handful of episodes, nearly flat in N). The report's audit checks say which.
"""

from configs.common import base_config, variant


def get_config(arg=None):
  c = base_config(
    'memorization',
    ('sl', 'rl_eoe', 'rl_step', 'rl_step_dense'),
    num_steps=10_000,  # episode budget; runs not converged by then are censored
    chunk_steps=1000,
    log_every=50,
  )

  c.ns = (10, 100, 500)  # answer-space sizes: a vmapped grid axis via logit masking
  c.context_dim = 16
  c.hidden = 64
  c.sl_lrs = (0.1, 0.001)  # a large and a small step: "2 episodes for every N" needs the large one
  c.rl_eoe_lr = 0.05
  c.rl_step_lr = 0.005
  c.rl_dense_lr = 0.05
  c.baseline_decay = 0.9  # EMA baseline for REINFORCE
  c.converge_prob = 0.5  # done when argmax = y* and π(y*) >= this
  c.shaped_reward = 'linear'  # RL-Step's partial credit: 'linear' 1-|a-y|/(N-1), or 'neg_abs' -|a-y|
  c.n_boot = 2000  # bootstrap replicates of the scaling fits (analysis only; tests use fewer)

  return variant(
    c,
    arg,
    smoke=dict(
      num_seeds=3,
      ns=(4, 16),
      hidden=16,
      num_steps=300,
      chunk_steps=50,
      log_every=10,
    ),
  )
