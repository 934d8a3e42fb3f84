"""Adversarial joke generation and degenerate text (docs/families/degeneration.md).

Command:
  python run.py --config=configs/degeneration.py --workdir=/tmp/degeneration
  python run.py --config=configs/degeneration.py:smoke --workdir=/tmp/degeneration_smoke   # for tests

Runtime: full config (pretraining 10 seeds x 300 steps, then 3 arms x 10 seeds x 200 steps) 1 min 22 s wall
on the idle 2-core CPU in the full catalogue run (compile, analysis and report included; mostly XLA compile);
10 min 22 s when the machine was shared at load average ~13. The smoke variant: 1 min 44 s of CPU time.

Expected result (measured, 10 seeds 0-9): the claim's mechanism does NOT appear. The order-blind arm
hardly loops (loop share 0.002 [-0.001, 0.005] vs 0 for mle, Holm p 1.0): it collapses onto fewer jokes
instead (exact-duplicate ratio 0.27 vs 0.03; distinct-4 0.20 vs 0.41; well-formed 0.67 vs 0.98). Loops come
from the order-AWARE arm (loop share 0.44 +- 0.33; loops in 6 of 10 seeds, >= 0.5 in 5), the opposite of the issue's
expectation. The likelihood judge punishes loops (score of looping samples 0.01/10 vs 3.5 for the others;
write-up: 7.9/10) and flags them about as well as seq-rep-4 (AUROC 0.85 vs 0.85, 6 seeds with loops);
seq-rep-2/3, rep/4 and the longest repeat reach AUROC 0.96-0.98; exact-duplicate flags do not (0.55).
Findings: mechanism "not reproduced", detection "inconclusive", write-up numbers "not reproduced".
Tuned while developing (3 seeds, before the 10-seed run): gen_lr 3e-4 (no loops in any arm after 200
steps), 1e-3 (kept: the value set before tuning), 2e-3 (both adversarial arms loop in 2 of 3 seeds);
judge_window 2 -> 1 (a bigram judge: the most local fluency judge); model sizes halved for speed.
"""

from configs.common import base_config, variant


def get_config(arg=None):
  c = base_config(
    'degeneration',
    ('mle', 'blind', 'aware'),  # control; REINFORCE vs order-blind / order-aware discriminator
    num_steps=200,  # generator updates after pretraining
    chunk_steps=100,
    log_every=10,
  )
  # Jokes (exp/tasks/jokes.py): buffer [BOS, words, EOS, PAD ...]; the generator sees the whole buffer.
  c.seq_len = 16
  c.window = 16  # generator context (WindowMLPLM window); seq_len must fit in it
  c.judge_window = 1  # the judge LM sees only the last judge_window tokens: likelihood = local fluency
  c.embed = 8
  c.hidden = 64
  # Pretraining stage (per seed): generator and judge by maximum likelihood on fresh jokes.
  c.pretrain_steps = 300
  c.pretrain_batch = 32
  c.pretrain_lr = 3e-3
  # Arms.
  c.batch = 32  # generated (and real) jokes per step
  c.gen_lr = 1e-3  # Adam, generator (all arms)
  c.disc_lr = 1e-3  # Adam, discriminator
  c.disc_embed = 8
  c.disc_hidden = 32
  c.baseline_decay = 0.9  # EMA baseline of the REINFORCE reward
  # Evaluation and metrics.
  c.eval_batch = 96  # generated jokes per run (the same noise in every arm of a seed)
  c.rep_ns = (2, 3, 4)  # seq-rep-n
  c.rep_window = 4  # rep/l
  c.loop_max_period = 4  # loop flag: a unit of period <= 4 ...
  c.loop_repeats = 3  # ... repeated 3 times back to back ...
  c.loop_min_span = 4  # ... covering at least 4 tokens
  c.n_baselines = 8  # shuffled equal-length baselines per sequence for the deflate ratio
  # Analysis thresholds.
  c.alpha = 0.05  # Holm-adjusted significance
  c.dup_bound = 0.05  # "near 0": exact-duplicate ratio CI below this
  c.auroc_bound = 0.8  # a score "flags" loops when its AUROC CI lies above this
  c.judge_bound = 5.0  # judge score of a typical real joke (its median): loops rated "high" above it
  c.min_loops = 5  # a run's AUROCs need at least this many looping and non-looping samples

  return variant(
    c,
    arg,
    smoke=dict(
      num_seeds=2,
      num_steps=6,
      chunk_steps=3,
      log_every=3,
      hidden=32,
      embed=8,
      disc_hidden=16,
      disc_embed=8,
      pretrain_steps=10,
      pretrain_batch=16,
      batch=8,
      eval_batch=16,
      n_baselines=2,
      min_loops=1,
    ),
  )
