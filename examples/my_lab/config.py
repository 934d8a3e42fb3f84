"""Does Adam beat SGD with momentum on a small regression, over 10 seeds and 5 learning rates?

  PYTHONPATH=examples python run.py --config=examples/my_lab/config.py --workdir=/tmp/adam_sgd
  PYTHONPATH=examples python run.py --config=examples/my_lab/config.py:smoke --workdir=/tmp/adam_sgd_smoke

docs/tutorial.md walks through it; the runtime and result it measured are written there.
"""

from configs.common import base_config, variant


def get_config(arg=None):
  c = base_config(
    'my_lab.adam_vs_sgd',  # the family: a dotted module path, importable from PYTHONPATH
    ('adam', 'sgdm'),  # arms: the optimizers (different state, so compiled separately)
    num_steps=400,
    chunk_steps=200,
    log_every=20,
  )
  c.lrs = (0.001, 0.003, 0.01, 0.03, 0.1)  # the grid: traced, so all 5 run in one program per arm
  c.momentum = 0.9
  c.dim, c.hidden = 8, 32  # inputs and hidden units of teacher and student
  c.n_train, c.n_test, c.batch_size = 256, 1024, 32
  c.noise = 0.1  # label noise SD
  return variant(c, arg, smoke=dict(num_seeds=3, num_steps=40, chunk_steps=20, log_every=10, n_test=128))
