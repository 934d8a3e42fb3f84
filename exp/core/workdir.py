"""The workdir: the files a run reads and writes, and the JSON and config I/O they need.

    workdir/
      config.json    the resolved config and its sha256 (same config -> resume; different -> refused)
      checkpoints/   orbax: the arm batch in progress + its position (written by exp.core.runner)
      metrics.jsonl  one line per (run, log point): arm, seed, grid values, step, metrics
      results.json   per run: arm, seed, grid, status, final metrics; the analysis (atomic write)
      report.md      the finding;   plots/*.png   the figures
      pretrain/      cached pretrained bases, keyed by the pretraining config

No jax here: everything is plain Python, numpy and files, so the analysis side can read a workdir
without starting an accelerator runtime.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import socket
import tempfile
import time
from typing import Any

import numpy as np

from exp.core.validate import ConfigError

# ---------------------------------------------------------------------------------------------------
# JSON


def finite_or_none(x: Any) -> float | None:
  """A float, or None for None and non-finite values (JSON has no NaN)."""
  return float(x) if x is not None and math.isfinite(float(x)) else None


def json_safe(x: Any) -> Any:
  """Plain JSON, recursively: numpy scalars/arrays -> Python, non-finite floats -> None."""
  if isinstance(x, dict):
    return {k: json_safe(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [json_safe(v) for v in x]
  if isinstance(x, (np.generic, np.ndarray)):
    return json_safe(x.item() if np.ndim(x) == 0 else x.tolist())
  if isinstance(x, float):
    return finite_or_none(x)
  return x


def dumps(x) -> str:
  """One line of strict JSON (numpy -> Python, non-finite -> null)."""
  return json.dumps(json_safe(x), allow_nan=False)


# ---------------------------------------------------------------------------------------------------
# Files


def _umask_mode(path: str) -> None:
  """mkstemp creates 0600 files; give the final file the mode a plain open() would (0666 & ~umask)."""
  mask = os.umask(0)
  os.umask(mask)
  os.chmod(path, 0o666 & ~mask)


def write_atomic(path: str | os.PathLike, text: str | bytes) -> str:
  """Write `text` (str as UTF-8, or bytes) to `path` atomically: a temp file in the same directory, then
  ``os.replace``. Creates the parent directory. Returns the path as a str."""
  path = os.fspath(path)
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  data = text.encode('utf-8') if isinstance(text, str) else bytes(text)
  fd, tmp = tempfile.mkstemp(dir=parent, prefix='.' + os.path.basename(path) + '.', suffix='.tmp')
  try:
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    _umask_mode(tmp)
    os.replace(tmp, path)
  except BaseException:
    try:
      os.unlink(tmp)
    except OSError:
      pass
    raise
  return path


def truncate(path: str, size: int) -> None:
  """Cuts a file back to ``size`` bytes (lines written after a checkpoint); creates it empty at 0."""
  if os.path.exists(path) and os.path.getsize(path) > size:
    with open(path, 'r+b') as f:
      f.truncate(size)
  elif not os.path.exists(path) and size == 0:
    open(path, 'w').close()


def append_lines(path: str, lines: list[str]) -> None:
  """Appends lines and fsyncs, so a checkpoint's recorded byte length never points past the data."""
  if lines:
    with open(path, 'a') as f:
      f.write('\n'.join(lines) + '\n')
      f.flush()
      os.fsync(f.fileno())


# ---------------------------------------------------------------------------------------------------
# Config identity


# How a run is watched, not what it computes: outside the config's identity, so a job resumes with live
# curves switched on or off, and workdirs written before the key existed still match.
OBSERVATION_KEYS = ('tensorboard',)


def config_json(config) -> str:
  """Canonical JSON text of a config (sorted keys, observation keys left out): what config.json stores
  and the sha256 hashes."""
  d = json.loads(config.to_json(sort_keys=True))
  return json.dumps({k: v for k, v in d.items() if k not in OBSERVATION_KEYS}, sort_keys=True, indent=1)


def config_sha256(config) -> str:
  return hashlib.sha256(config_json(config).encode()).hexdigest()


def flat_items(d: dict, prefix: str = '') -> dict:
  """{'a': {'b': 1}} -> {'a.b': 1}, for naming keys in messages."""
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flat_items(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out


def config_diff(stored_json: str, config) -> list[str]:
  """Human-readable differences between a stored config.json text and a config."""
  old = flat_items(json.loads(stored_json))
  new = flat_items(json.loads(config_json(config)))
  diffs = []
  for k in sorted(set(old) | set(new)):
    if old.get(k, '<absent>') != new.get(k, '<absent>'):
      diffs.append(f'{k}: {old.get(k, "<absent>")!r} -> {new.get(k, "<absent>")!r}')
  return diffs


# ---------------------------------------------------------------------------------------------------
# metrics.jsonl read back


class MetricsLog:
  """metrics.jsonl read back: one line per (run, log point)."""

  def __init__(self, path: str):
    self.lines = []
    if os.path.exists(path):
      with open(path) as f:
        self.lines = [json.loads(l) for l in f if l.strip()]

  def curves(self, arm: str, metric: str, where: dict | None = None):
    """Returns (steps (P,), values (seeds, P)) for one arm and grid point. Runs that stopped logging
    earlier (frozen after done) are forward-filled, which is what they would have logged."""
    where = where or {}
    by_seed: dict[int, dict[int, float]] = {}
    for l in self.lines:
      if l['arm'] != arm or any(l['grid'].get(k) != v for k, v in where.items()):
        continue
      v = l['metrics'].get(metric)
      by_seed.setdefault(l['seed'], {})[l['step']] = np.nan if v is None else v
    if not by_seed:
      return np.zeros(0), np.zeros((0, 0))
    steps = np.array(sorted({s for d in by_seed.values() for s in d}))
    vals = np.full((len(by_seed), len(steps)), np.nan)
    for i, seed in enumerate(sorted(by_seed)):
      d = by_seed[seed]
      last = np.nan
      for j, s in enumerate(steps):
        last = d.get(s, last)
        vals[i, j] = last
    return steps, vals


# ---------------------------------------------------------------------------------------------------
# The workdir


class Workdir:
  def __init__(self, path: str):
    self.path = os.path.abspath(path)
    self.config = os.path.join(self.path, 'config.json')
    self.results = os.path.join(self.path, 'results.json')
    self.report = os.path.join(self.path, 'report.md')
    self.metrics = os.path.join(self.path, 'metrics.jsonl')
    self.plots = os.path.join(self.path, 'plots')
    self.checkpoints = os.path.join(self.path, 'checkpoints')

  def check(self, config) -> dict | None:
    """Validates the workdir against the config without writing. Returns stored results or None."""
    if os.path.exists(self.path) and not os.path.isdir(self.path):
      raise ConfigError('workdir', f'{self.path} exists and is not a directory')
    if os.path.exists(self.config):
      try:
        with open(self.config) as f:
          stored = json.load(f)
        stored_cfg = json.dumps(stored['config'])
        stored_sha = stored['sha256']
      except (OSError, ValueError, KeyError):
        raise ConfigError('workdir', f'{self.config} is unreadable; use a fresh --workdir') from None
      if stored_sha != config_sha256(config):
        diffs = config_diff(stored_cfg, config)
        raise ConfigError(
          'workdir',
          f'{self.path} holds a run of a different config '
          f'({"; ".join(diffs[:4]) or "sha256 differs"}); use another --workdir '
          'or the same config to resume',
        )
    if os.path.exists(self.results):
      try:
        with open(self.results) as f:
          return json.load(f)
      except (OSError, ValueError):
        return None
    return None


class WorkdirLock:
  """One live job per workdir: an OS file lock (``flock``) on ``workdir/.lock``, held until the job's
  process ends. The kernel drops it when the holder dies, however it dies, so a lock left by a killed
  job never blocks its rerun (a pid file would). The file's text names the holder for the error message.
  Reading a finished workdir (a reprint, ``--report_only``) takes no lock."""

  def __init__(self, path: str):
    self.path = os.path.join(path, '.lock')
    self._fd: int | None = None

  def acquire(self) -> None:
    """Takes the lock or raises ConfigError('workdir', ... naming the holder)."""
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      holder = os.pread(fd, 512, 0).decode('utf-8', 'replace').strip() or 'another process'
      os.close(fd)
      raise ConfigError(
        'workdir',
        f'{os.path.dirname(self.path)} is in use by a running job ({holder}); wait for it to end '
        'or use another --workdir',
      ) from None
    stamp = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime())
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'pid {os.getpid()} on {socket.gethostname()} since {stamp}\n'.encode(), 0)
    self._fd = fd

  def release(self) -> None:
    if self._fd is not None:
      fcntl.flock(self._fd, fcntl.LOCK_UN)
      os.close(self._fd)
      self._fd = None

  def __enter__(self):
    self.acquire()
    return self

  def __exit__(self, *exc):
    self.release()
