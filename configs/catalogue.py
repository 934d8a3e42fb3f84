"""The whole catalogue in one command: every experiment into DIR/<name>/, then DIR/dashboard.{md,png}.

Command:
  python run.py --config=configs/catalogue.py --workdir=DIR                 # every experiment, 10 seeds
  python run.py --config=configs/catalogue.py:smoke --workdir=DIR           # each experiment's :smoke
  python run.py --config=configs/catalogue.py:smoke --workdir=DIR --config.experiments=capacity_cliff,model_switch
  python run.py --config=configs/catalogue.py --workdir=DIR --config.tensorboard=True   # live curves

The README's dashboard (docs/dashboard.png) is the full catalogue's, regenerated with
  python run.py --config=configs/catalogue.py --workdir=/tmp/catalogue && cp /tmp/catalogue/dashboard.png docs/

A rerun of the same command resumes the experiment in progress and skips the finished ones (each
DIR/<name>/ is an ordinary workdir with its own config identity, checkpoints and lock; DIR holds a lock
too). Every experiment's config is loaded, validated and checked against its workdir before anything
runs: a bad name or a workdir holding another config is one line on stderr, exit 2, nothing written.

Keys:
  experiments  () = every registered family whose configs/<name>.py loads and whose module imports (a
               family still being written is left out with a note); else names of registered families
               or config files ([name=]path/to/config.py[:variant]; its sub-workdir is DIR/name, by
               default its ``experiment``), e.g. --config.experiments=capacity_cliff,model_switch
  variant      '' (full configs) or a variant name every selected config has ('smoke' with ':smoke')
  tensorboard  True: each experiment writes live curves under DIR/<name>/tensorboard/
  expected_s   prior wall seconds per experiment (2-core CPU, from the configs' docstrings), for the ETA
               only; the ETA rescales them by the time the finished experiments actually took

Runtime (measured 2026-12-02 on the 2-core CPU): the full catalogue, all nine experiments, 14 min 31 s wall
on the idle machine (per experiment in EXPECTED_S and the README); the smoke variant 28 min wall at load
average 12-14 (9 min 27 s of CPU time, mostly XLA compiles; on an idle machine expect about the CPU time).
Expected result: DIR/dashboard.md and DIR/dashboard.png, one row and one panel per finding (the smoke
variant gave 26 findings from 9 experiments: 1 reproduced, 5 partly, 5 not reproduced, 15 inconclusive
with 2-3 seeds), whose statuses are those each experiment's config states in its docstring.
"""

import ml_collections

from configs.common import variant

# Wall seconds of the full configs on the idle 2-core CPU, measured in one catalogue run (2026-12-02, the
# README's figures; an unlisted experiment counts as the mean of the listed ones). Only the ETA uses them.
EXPECTED_S = {
  'memorization': 64,
  'lora_collapse': 187,
  'distillation': 133,
  'noisy_student': 88,
  'persona_dpo': 52,
  'capacity_cliff': 164,
  'degeneration': 64,
  'self_modifying': 69,
  'model_switch': 32,
}
EXPECTED_SMOKE_S = {
  'memorization': 45,  # "a few seconds" of training, plus ~40 s of compiling four arms
  'lora_collapse': 35,
  'distillation': 60,
  'noisy_student': 80,
  'capacity_cliff': 25,
  'model_switch': 45,
}


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = 'catalogue'
  c.experiments = ()
  c.variant = ''
  c.tensorboard = False
  c.expected_s = ml_collections.ConfigDict(EXPECTED_SMOKE_S if arg == 'smoke' else EXPECTED_S)
  return variant(c, arg, smoke={'variant': 'smoke'})
