"""The runner's test family (tests/plugins/toylab/walk.py), run by dotted path:

PYTHONPATH=tests/plugins python run.py --config=tests/plugins/toylab/config.py:smoke --workdir=/tmp/walk
"""

from configs.common import base_config, variant


def get_config(arg=None):
  c = base_config('toylab.walk', ('walk', 'heavy'), num_steps=60, chunk_steps=10, log_every=5, num_seeds=3)
  c.lrs = (0.02, 0.1, 0.5, 40.0)
  c.sigma = 0.05
  c.tol = 0.05
  c.momentum = 0.5
  return variant(c, arg, smoke={}, long={'num_steps': 600, 'tol': 0.0, 'arms': ('walk',), 'num_seeds': 2})
