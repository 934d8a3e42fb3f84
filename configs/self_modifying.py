"""Self-modifying network vs fixed architecture, with auxiliary objectives, under a random and a tail
validation split (docs/families/self_modifying.md).

Command:
  python run.py --config=configs/self_modifying.py --workdir=/tmp/self_modifying
  python run.py --config=configs/self_modifying.py:smoke --workdir=/tmp/self_modifying_smoke   # for tests

Runtime: full config (2 architectures × 6 objectives × 2 splits × 10 seeds = 240 runs, 30 rounds of 50 Adam
updates, one compiled program) 1 min 27 s wall on the idle 2-core CPU in the full catalogue run (compile,
analysis and report included); 11 min 17 s when the machine was shared at load average 12–14. The smoke
variant: 43 s of CPU time.

Expected result (measured, 10 seeds 0–9; validation accuracy, clean labels): fixed/none 69.9% [66.1, 73.7]
on the random split, 56.6% on the tail split: a split cliff of 13.3 points [5.7, 20.9] (write-up: 13).
Self-modifying + synthetic labels / entropy + auxiliary / entropy constraint: 71.3 / 73.7 / 72.7% on the
random split (no failure), 57.3 / 58.5 / 58.5% on the tail split. Main effects: split 14.9 [6.5, 23.3]
points, architecture (fixed − self-modifying) −1.1 [−2.2, −0.0], objectives (none − objective) −0.7
[−2.0, 0.5]: the write-up's drops are the split. Entropy + auxiliary gradients conflict (mean cosine ≈ −0.2,
≈ 87% of updates negative) but the conflict does not track the drop (r = 0.14 [−0.02, 0.29]) and PCGrad
changes nothing (−0.4 [−1.1, 0.3] points). Tail split vs validation: domain AUC 0.64, class-prior TV 0.70.
"""

from configs.common import base_config, variant


def get_config(arg=None):
  c = base_config(
    'self_modifying',
    ('factorial',),  # one arm: architecture, objective and split are all traced grid axes
    num_steps=30,  # rounds; a round = modify_every Adam updates, then one modification event
    chunk_steps=10,
    log_every=1,  # metrics are each round's means
  )
  # the factorial's traced axes
  c.objectives = ('none', 'entropy', 'aux', 'pseudo', 'entropy_aux', 'pcgrad')
  c.architectures = ('fixed', 'selfmod')
  c.splits = ('random', 'tail')
  # data: a noisy random teacher, the file grouped by its noisy label with jitter (exp/tasks/ordered_file.py)
  c.input_dim = 20
  c.num_classes = 4
  c.aux_classes = 4  # the auxiliary head's task: a second, independent teacher
  c.teacher_width = 32
  c.label_noise = (
    0.25  # probability that a label is replaced by a uniformly drawn class (tuned: 0.3 gave 67%)
  )
  c.jitter = 0.6  # Gaussian jitter on the sort key (label): smaller = a sharper tail shift (tuned, see docs)
  c.file_size = 2000
  c.val_frac = 0.2  # validation = the file's last 20% (tail) or a random 20%
  c.test_size = 2000  # fresh i.i.d. inputs with clean labels: the reported accuracy
  # network (models/growing.py): one hidden ReLU layer of static max width
  c.max_width = 64
  c.width = 32  # initial active units (the fixed architecture keeps them)
  c.min_width = 8
  c.density = 0.75  # initial fraction of active input connections
  # self-modification: one event after every round of modify_every Adam updates (K, static), while the
  # update count is below modify_until * num_steps * modify_every
  c.modify_every = 50
  c.grow_units = 4  # Net2WiderNet copies per event
  c.prune_units = 4  # lowest-saliency units switched off per event
  c.rewire_alpha = 0.3  # RigL drop fraction at step 0; cosine decay to 0
  c.growth_noise = 0.01  # ε splitting a copied unit's outgoing weights
  c.modify_until = 1.0
  # auxiliary objectives (coefficients are traced grid values of the arms that use them)
  c.entropy_coef = 0.5
  c.aux_coef = 1.0
  c.pseudo_coef = 0.5
  # optimizer
  c.lr = 0.01
  c.batch_size = 64
  # statistics
  c.min_effect = 2.0  # accuracy points: smaller effects count as "no effect" in the findings
  c.alpha = 0.05
  c.shift_sample = 400  # points per group for the domain classifier and the MMD
  c.mmd_permutations = 200

  return variant(
    c,
    arg,
    smoke=dict(
      num_seeds=2,
      objectives=('none', 'entropy_aux', 'pcgrad'),
      num_steps=4,
      chunk_steps=2,
      log_every=1,
      file_size=200,
      test_size=200,
      max_width=12,
      width=8,
      min_width=4,
      modify_every=10,
      grow_units=2,
      prune_units=2,
      shift_sample=60,
      mmd_permutations=20,
    ),
  )
