"""Constitutional DPO persona pipeline (Open Character Training) on a toy LM (docs/families/persona_dpo.md).

Command:
  python run.py --config=configs/persona_dpo.py --workdir=/tmp/persona_dpo
  python run.py --config=configs/persona_dpo.py:smoke --workdir=/tmp/persona_dpo_smoke   # seconds, for tests

Runtime: full config (pretraining 10 seeds x 600 steps, then 1 arm x 4 orders x 10 seeds x 240 steps) 1 min
07 s wall on the idle 2-core CPU in the full catalogue run (compile, analysis and report included); 5 min 03 s
when the machine was shared at load average ~13. The smoke variant: ~65 s of CPU time, almost all compiling.

Expected result (measured, 10 seeds; mean, paired 95% CI): the claimed order (intro SFT -> dialogue SFT ->
DPO) takes alignment from 0.549 (base with SYS) to 0.978 without SYS (+0.429 [0.396, 0.461]), the
high-alignment rate 0.529 -> 0.988, the break rate 0.798 (base, SYS + IGN) -> 0.020 (IGN, no SYS), survival
without SYS 0.994: finding "pipeline" reproduced (stronger than the write-up's 0.57 -> 0.79), while the
neutral-text NLL rises 1.43 -> 2.36 (capability audit fails). Phase order (claimed vs cited DPO -> intro):
alignment without SYS equivalent within +-0.05 (0.978 vs 0.944), break rate on IGN 0.020 vs 0.130 and NLL
2.36 vs 2.01 differ: "partly". Each stage contributes: "not reproduced" (SFT only 0.945, DPO only 0.963,
both within +-0.05 of the full pipeline; DPO only costs NLL 4.65).
"""

from configs.common import base_config, variant


def get_config(arg=None):
  c = base_config(
    'persona_dpo',
    ('pipeline',),  # one program: the phase orders are grid points (common random numbers per seed)
    num_steps=240,  # = slots x phase_steps: the longest order (claimed) has 3 phases
    chunk_steps=80,
    log_every=4,
  )
  c.phase_steps = 80  # steps per phase; a phase switches on the step index
  c.orders = ('claimed', 'cited', 'dpo_only', 'sft_only')

  # The toy language (exp/tasks/persona.py).
  c.n_persona = 4
  c.n_neutral = 12
  c.n_successors = 3
  c.response_len = 8
  # follow[sys][mode]: P(a pretraining response follows the persona), sys in (NULL, SYS), mode in
  # (NULL, IGN, INTRO). The base: with SYS about half follow, SYS + IGN mostly breaks.
  c.follow = ((0.03, 0.02, 0.3), (0.6, 0.15, 0.6))
  c.rho = 0.8  # persona responses: a persona token after a neutral one with this probability
  c.p_forbid = 0.05  # neutral text: FORBID per position
  c.p_stray = 0.03  # neutral text: a stray persona token per position
  c.p_sys, c.p_ign, c.p_intro = 0.5, 0.25, 0.15  # pretraining prompt mix

  # The base LM: a WindowMLPLM whose window holds prompt + response (models/lm.py).
  c.window = 12
  c.embed = 12
  c.hidden = 64
  c.pretrain_steps = 600
  c.pretrain_batch = 64
  c.pretrain_lr = 1e-2

  # Teacher = the base with SYS, best of teacher_best_of samples under the constitution; its answers form
  # a fixed pool of pool_batches x batch responses (the SFT targets and the DPO chosen responses).
  c.teacher_best_of = 4
  c.pool_batches = 16

  # Training phases.
  c.batch = 32
  c.sft_lr = 3e-3
  c.dpo_lr = 1e-3
  c.beta = 0.1
  c.nll_coef = 0.1  # chosen-response NLL term of the cited pipeline
  c.dialogue_sys_frac = 0.5  # dialogue SFT: half of the prompts carry SYS
  c.train_ign_frac = 0.5  # dialogue SFT and DPO prompts: IGN in this fraction

  # Evaluation and analysis.
  c.eval_batch = 128  # responses per condition per snapshot
  c.high_threshold = 0.75
  c.break_threshold = 0.3
  c.survive_threshold = 0.5
  c.order_margin = 0.05  # |claimed − cited| alignment inside this: phase order does not matter
  c.nll_tolerance = 0.1  # neutral-text NLL may rise by this many nats and count as capability kept
  c.div_tolerance = 0.05  # diversity (distinct bigrams) may fall by this much and count as kept

  return variant(
    c,
    arg,
    smoke=dict(
      num_seeds=2,
      num_steps=12,
      chunk_steps=6,
      log_every=2,
      phase_steps=4,
      hidden=16,
      embed=6,
      pretrain_steps=20,
      pretrain_batch=16,
      pool_batches=2,
      batch=8,
      eval_batch=16,
    ),
  )
