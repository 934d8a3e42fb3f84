"""A minimal family with a pretraining stage, for the runner's tests (run by dotted path, toylab.pretrain).

pretrain: w ← w − lr·(w − target) from w = 0; arms start from the pretrained w and move to a new target.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from exp.core import validate as cfglib
from exp.core.experiment import Arm, Experiment


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.experiment = 'toylab.pretrain'
  c.seed, c.seed_offset, c.num_seeds = 0, 0, 3
  c.arms = ('a',)
  c.vectorize = True
  c.num_steps, c.chunk_steps, c.log_every = 40, 10, 5
  c.pretrain_steps = 20
  c.pretrain_lr = 0.1
  return c


def validate(config):
  cfglib.validate_common(config, ('a',))


def build(config):
  def pre_init(key, hp):
    return {'w': jnp.zeros(4), 'target': jax.random.normal(key, (4,))}

  def pre_step(s, hp, key):
    noise = 0.01 * jax.random.normal(key, (4,))
    return dict(s, w=s['w'] - config.pretrain_lr * (s['w'] - s['target']) + noise), {
      'err': jnp.sum((s['w'] - s['target']) ** 2)
    }

  def init(key, hp, base):
    return {'w': base, 'w0': base, 'target': jax.random.normal(key, (4,))}

  def step(s, hp, key):
    return dict(s, w=s['w'] - hp['lr'] * (s['w'] - s['target'])), {
      'err': jnp.sum((s['w'] - s['target']) ** 2)
    }

  pre = Arm(
    'pretrain',
    {},
    pre_init,
    pre_step,
    lambda s, hp: {'err': jnp.sum((s['w'] - s['target']) ** 2)},
    num_steps=config.pretrain_steps,
  )
  arm = Arm(
    'a',
    {'lr': np.array([0.1, 0.2], np.float32)},
    init,
    step,
    lambda s, hp: {'err': jnp.sum((s['w'] - s['target']) ** 2), 'w0_norm': jnp.sum(s['w0'] ** 2)},
    num_steps=config.num_steps,
  )
  return Experiment(
    'toy_pretrain',
    (arm,),
    analyze=lambda runs, cfg: {'headline': None},
    report=lambda an, runs, log, cfg, d: 'toy report\n',
    pretrain=pre,
    pretrain_output=lambda s: s['w'],
    pretrain_keys=('pretrain_steps', 'pretrain_lr'),
  )
