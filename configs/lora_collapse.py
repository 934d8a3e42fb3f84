"""LoRA mode collapse at a learning-rate threshold (docs/families/lora_collapse.md).

Command:
  python run.py --config=configs/lora_collapse.py --workdir=/tmp/lora_collapse
  python run.py --config=configs/lora_collapse.py:smoke --workdir=/tmp/lora_collapse_smoke   # seconds, for tests

Runtime on a 2-core CPU: full config (2 arms x 17 lrs x 2 ranks x 10 seeds = 680 fine-tuning runs of 300 steps,
plus 10 pretraining runs of 400 steps) about 2 minutes wall (1.6 CPU-minutes) measured on the shared 2-core machine
at load ~5, 3.5 minutes at load ~7, compiles included (one compiled program per arm); the smoke variant about
35 s there, mostly compiling. Pretrained bases are cached in the workdir.

Expected result (measured): collapse turns on above an lr threshold at both ranks and in both arms. Classify
arm: threshold 10^c = 0.038 [0.030, 0.048] (r8) and 0.032 [0.024, 0.049] (r32); 59/60 (r8) and 65/70 (r32) runs
above the onset collapse, 3/110 and 0/100 below; 70% of the collapsed runs give literally one output on every
held-out prompt (sequence arm: 85%, one constant 8-digit string). The rank shifts the threshold a little
(per-seed thresholds r32 - r8 = -0.18 decades, paired p = 0.01; sequence arm Δc = -0.28 [-0.38, -0.19]). Not
binary by the claim's own standard: about 20% of the runs within half a decade of c have intermediate accuracy,
because accuracy already falls as the lr approaches c (classify r32: 57% at the best lr, 36% at the last lr
before the onset, then 3%); with --config.num_steps=600 the thresholds and that fraction stay the same.
Findings: "collapse above an lr threshold" reproduced; "binary, not gradual" not reproduced.
"""

from configs.common import base_config, variant

# Quarter decades from 1e-4 to 1e0 (17 values).
QUARTER_DECADES = tuple(float(f'{10 ** (-4 + k / 4):.4g}') for k in range(17))


def get_config(arg=None):
  c = base_config(
    'lora_collapse',
    ('classify', 'sequence'),  # answer = one of 32 classes / a string of 8 digit tokens
    num_steps=300,  # LoRA fine-tuning steps on mapping 2
    chunk_steps=150,
    log_every=10,
  )

  # Task (exp/tasks/lookup.py): 4 question tokens from a vocabulary of 8, 32 answers, additive mappings.
  c.vocab = 8
  c.num_answers = 32
  c.num_train = 2048  # training prompts (the rest of the 4096 prompts: held out)
  c.num_heldout = 512  # held-out prompts: accuracy and the collapse detector
  c.num_digits = 8  # sequence arm: each answer is a string of 8 base-10 digit tokens
  c.digit_base = 10
  # Base model (models/lora.py LookupMLP): Embed 16 per token -> Dense 128 ReLU -> Dense 128 ReLU -> head.
  c.embed_dim = 16
  c.hidden = (128, 128)
  c.batch_size = 64  # minibatch of training prompts, the same for pretraining and fine-tuning
  # Pretraining stage: the full base on mapping 1 with Adam, once per seed (cached in the workdir).
  c.pretrain_steps = 400
  c.pretrain_lr = 3e-3

  # LoRA fine-tuning on mapping 2 with Adam: the grid is lrs x ranks, one compiled program per arm.
  c.lrs = QUARTER_DECADES
  c.ranks = (8, 32)
  c.alpha_per_rank = 2.0  # alpha = alpha_per_rank * rank (alpha = 2r)
  c.rslora = False  # False: scale alpha/r (= alpha_per_rank); True: alpha/sqrt(r) (rsLoRA)

  # Analysis.
  c.band_decades = 0.5  # "near the threshold": |log10 lr - c| <= this
  # "Intermediate" accuracy: inside floor + band * (peak - floor), floor = the rank's median accuracy of its
  # collapsed runs, peak = its best median accuracy over lrs (the middle half of that span).
  c.intermediate_band = (0.25, 0.75)
  c.max_intermediate = 0.10  # "binary, not gradual" when at most this fraction of runs near c is intermediate
  c.max_width_decades = 1.0  # ... and the 10-90% width of P(collapse) is at most this many decades
  c.n_boot = 1000  # bootstrap replicates (threshold CIs; seed bootstrap of the rank effect: n_boot // 5)

  return variant(
    c,
    arg,
    smoke=dict(
      num_seeds=2,
      num_steps=40,
      chunk_steps=20,
      log_every=10,
      hidden=(32, 32),
      embed_dim=8,
      num_train=512,
      num_heldout=128,
      batch_size=32,
      pretrain_steps=60,
      pretrain_lr=1e-2,
      lrs=(1e-3, 1e-2, 1e-1, 1.0),
      ranks=(2, 8),
      n_boot=50,
    ),
  )
