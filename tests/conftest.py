"""Shared test setup: CPU jax, one persistent compilation cache per test session (subprocesses inherit
it through the environment), and helpers to run the real launcher."""

import json
import os
import subprocess
import sys
import tempfile

_CACHE = tempfile.mkdtemp(prefix='tenfold-jax-cache-')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', _CACHE)
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')

import pytest  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)


def load_config(spec='configs/memorization.py:smoke', **overrides):
  """The config file's get_config(variant) with overrides applied (as --config.k=v would)."""
  import importlib.util

  path, _, variant = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location(
    'cfg_' + os.path.basename(path)[:-3], os.path.join(ROOT, path)
  )
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  config = module.get_config(variant or None)
  for k, v in overrides.items():
    setattr(config, k, v)
  return config


def run_cli(*args, env=None, timeout=300):
  """Runs `python run.py ARGS` from the repo root; returns the CompletedProcess."""
  full_env = dict(os.environ)
  full_env.update(env or {})
  return subprocess.run(
    [sys.executable, os.path.join(ROOT, 'run.py'), *args],
    cwd=ROOT,
    env=full_env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def read_results(workdir):
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)


def read_metrics(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(l) for l in f if l.strip()]


def snapshot(path):
  """{relative path: (size, mtime_ns)} of everything under path (or of the file itself)."""
  if not os.path.exists(path):
    return None
  if os.path.isfile(path):
    st = os.stat(path)
    return {'': (st.st_size, st.st_mtime_ns)}
  out = {}
  for dirpath, _, files in os.walk(path):
    for name in files:
      p = os.path.join(dirpath, name)
      st = os.stat(p)
      out[os.path.relpath(p, path)] = (st.st_size, st.st_mtime_ns)
  return out


def complete_run(tmp_path_factory, spec, **overrides):
  """One in-process run of a config file to completion; returns its workdir."""
  from exp.core import runner

  name = os.path.basename(spec.partition(':')[0])[:-3]
  workdir = str(tmp_path_factory.mktemp(name))
  outcome = runner.run(load_config(spec, **overrides), workdir, quiet=True)
  assert outcome.status == 'complete'
  return workdir


@pytest.fixture(scope='session')
def smoke_run(tmp_path_factory):
  """One complete in-process smoke run of the memorization experiment (all arms), shared by tests."""
  return complete_run(tmp_path_factory, 'configs/memorization.py:smoke')


# 10-step chunks so that runs are still going after the first checkpoint (it then holds their state).
RL_EOE_3 = dict(arms=('rl_eoe',), num_seeds=3, chunk_steps=10, log_every=10)
RL_EOE_3_FLAGS = [
  '--config.arms=rl_eoe',
  '--config.num_seeds=3',
  '--config.chunk_steps=10',
  '--config.log_every=10',
]


@pytest.fixture(scope='session')
def rl_eoe_three_seeds(tmp_path_factory):
  """RL-EoE smoke with 3 seeds on one device: the reference of the seed-identity and device tests."""
  return complete_run(tmp_path_factory, 'configs/memorization.py:smoke', **RL_EOE_3)
