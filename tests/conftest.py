"""Shared test setup: CPU jax, one persistent compilation cache per test session (shared by the pytest-xdist
workers of one session; subprocesses inherit it through the environment), and helpers to run the real
launcher."""

import json
import math
import os
import subprocess
import sys
import tempfile

_RUN = os.environ.get('PYTEST_XDIST_TESTRUNUID')  # the same in every xdist worker of one session
if _RUN:
  _CACHE = os.path.join(tempfile.gettempdir(), f'tenfold-jax-cache-{_RUN}')
  os.makedirs(_CACHE, exist_ok=True)
else:
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
# A researcher's own lab outside the package: its families run by dotted path (toylab.walk, ...).
PLUGINS = os.path.join(ROOT, 'tests', 'plugins')
if PLUGINS not in sys.path:
  sys.path.insert(0, PLUGINS)
WALK = 'tests/plugins/toylab/config.py:smoke'


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
  full_env['PYTHONPATH'] = os.pathsep.join(p for p in (PLUGINS, full_env.get('PYTHONPATH')) if p)
  full_env.update(env or {})
  return subprocess.run(
    [sys.executable, os.path.join(ROOT, 'run.py'), *args],
    cwd=ROOT,
    env=full_env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def same_runs(a_runs, b_runs):
  """Same runs, statuses and metrics up to 1e-4 (sharded programs differ from one device in the last bits)."""
  assert len(a_runs) == len(b_runs)  # pads dropped
  for a, b in zip(a_runs, b_runs):
    assert (a['arm'], a['seed'], a['grid'], a['status']) == (b['arm'], b['seed'], b['grid'], b['status'])
    for k, v in a['metrics'].items():
      w = b['metrics'][k]
      ok = math.isclose(v, w, rel_tol=1e-4, abs_tol=1e-6) if isinstance(v, float) else v == w
      assert ok, (k, a, b)


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


# The runner's tests run the toy walk (tests/plugins/toylab/walk.py): 3 seeds of its `walk` arm, with
# three learning rates (9 runs: padded to 12 on 4 devices). lr 0.02 is still going after the first
# 10-step chunk (so the first checkpoint holds a live state); lr 40 diverges.
WALK_3 = dict(arms=('walk',), num_seeds=3, lrs=(0.02, 0.1, 40.0))
WALK_3_FLAGS = ['--config.arms=walk', '--config.num_seeds=3', '--config.lrs=(0.02,0.1,40.0)']


@pytest.fixture(scope='session')
def walk_run(tmp_path_factory):
  """One complete in-process run of the toy walk (both arms), shared by the runner's tests."""
  return complete_run(tmp_path_factory, WALK)


@pytest.fixture(scope='session')
def walk_three_seeds(tmp_path_factory):
  """The walk arm with 3 seeds on one device: the reference of the seed-identity and device tests."""
  return complete_run(tmp_path_factory, WALK, **WALK_3)
