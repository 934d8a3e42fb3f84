"""The pretraining stage: run once per seed, cached in the workdir, keyed by the pretraining config."""

import os
import shutil

from conftest import read_metrics
from toylab import pretrain as toy_family
from toylab.pretrain import get_config

from exp.core import runner


def test_pretrain_runs_once_is_cached_and_feeds_each_seed(tmp_path):
  cfg = get_config()
  res = runner.run(cfg, str(tmp_path / 'w'), quiet=True).results
  pre = [r for r in res['runs'] if r['arm'] == 'pretrain']
  arms = [r for r in res['runs'] if r['arm'] == 'a']
  assert len(pre) == 3 and len(arms) == 6
  assert all(r['metrics']['err'] < 0.2 for r in pre)  # pretraining converged
  # Each run started from its own seed's base: grid points of a seed share it, seeds differ.
  by_seed = {}
  for r in arms:
    by_seed.setdefault(r['seed'], set()).add(round(r['metrics']['w0_norm'], 6))
  assert all(len(v) == 1 for v in by_seed.values()) and len({next(iter(v)) for v in by_seed.values()}) == 3
  assert len(os.listdir(tmp_path / 'w' / 'pretrain')) == 1
  assert any(l['arm'] == 'pretrain' for l in read_metrics(tmp_path / 'w'))

  # A second workdir seeded with the first one's cache reuses it: pretraining is not traced again.
  shutil.copytree(tmp_path / 'w' / 'pretrain', tmp_path / 'v' / 'pretrain')
  runner.TRACE_COUNTS.clear()
  again = runner.run(cfg, str(tmp_path / 'v'), quiet=True).results
  assert 'pretrain' not in runner.TRACE_COUNTS and runner.TRACE_COUNTS == {'a': 1}
  assert again['runs'] == res['runs']
  assert read_metrics(tmp_path / 'v') == read_metrics(tmp_path / 'w')


def test_resume_with_pretraining_equals_uninterrupted(tmp_path):
  cfg = get_config()
  ref = runner.run(cfg, str(tmp_path / 'ref'), quiet=True).results
  assert runner.run(cfg, str(tmp_path / 'cut'), quiet=True, max_chunks=2).status == 'interrupted'
  runner.TRACE_COUNTS.clear()
  res = runner.run(cfg, str(tmp_path / 'cut'), quiet=True).results
  assert 'pretrain' not in runner.TRACE_COUNTS
  assert res['runs'] == ref['runs']
  assert read_metrics(tmp_path / 'cut') == read_metrics(tmp_path / 'ref')


def test_cache_is_keyed_by_the_pretraining_config():
  import numpy as np

  a, b = get_config(), get_config()
  b.pretrain_lr = 0.2
  seeds = np.arange(3)
  ka = runner.pretrain_cache_key(toy_family.build(a), a, seeds)
  kb = runner.pretrain_cache_key(toy_family.build(b), b, seeds)
  kc = runner.pretrain_cache_key(toy_family.build(a), a, np.arange(4))
  assert len({ka, kb, kc}) == 3
  assert runner.pretrain_cache_key(toy_family.build(a), a, seeds) == ka
