"""Live curves: TensorBoard event files written on the host from metrics.jsonl, never from inside the
compiled program (``--config.tensorboard=True``).

    live = Live(workdir, config)   # after the workdir is validated and locked
    live.update()                  # after each chunk's lines are appended to metrics.jsonl
    live.close(complete=True)      # at the end (complete=False when the job stops early)

Layout, one TensorBoard run per directory:

    workdir/tensorboard/<arm>/<grid point>/seed_<s>/   every logged metric of that run
    workdir/tensorboard/<arm>/<grid point>/mean_ci/    per metric: <m>/mean, <m>/ci95_lo, <m>/ci95_hi over
                                                       the seeds (t-based 95% CI, finite values only)
    workdir/tensorboard/.progress.json                 what has been consumed and written

The band of a (cell, step) is written once every seed of the cell has logged that step; ``close(complete
=True)`` writes the rest from the seeds that reported (runs that stopped early log no later steps). The
custom-scalars layout draws each band as a margin chart ("mean ± 95% CI" tab).

``update`` tails metrics.jsonl from the byte offset it last consumed. The runner cuts metrics.jsonl back
to the checkpoint's length on resume and recomputes those lines (identically); ``update`` notices the
shorter file and skips every step it has already written for a run, so no step is written twice. Each
event file's byte length is saved with the progress; a Live that died between writing events and saving
its progress cuts them back on restart (as the runner does with metrics.jsonl), so its events are
rewritten once, never duplicated. tensorboardX is optional (requirements-dev.txt): without it, Live
raises ConfigError('tensorboard', ...), which the launcher prints as one line.
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import time

import numpy as np

from exp.core.validate import ConfigError
from exp.core.workdir import write_atomic

TB_DIR = 'tensorboard'
PROGRESS = '.progress.json'
EVENTS = 'events.out.tfevents.0.tenfold'  # one file per run directory, appended across resumes
MISSING_TBX = 'needs the optional package tensorboardX: pip install tensorboardX (see requirements-dev.txt)'


def require_tensorboardx() -> None:
  if importlib.util.find_spec('tensorboardX') is None:
    raise ConfigError('tensorboard', MISSING_TBX)


def _point_name(grid: dict) -> str:
  if not grid:
    return 'all'
  return ','.join(f'{k}={v:.6g}' if isinstance(v, float) else f'{k}={v}' for k, v in sorted(grid.items()))


class Live:
  """Tails ``workdir/metrics.jsonl`` into TensorBoard event files (module docstring)."""

  def __init__(self, workdir: str, config=None):
    require_tensorboardx()
    from tensorboardX.proto import event_pb2
    from tensorboardX.record_writer import masked_crc32c
    from tensorboardX.summary import scalar

    self._event_pb2, self._crc, self._scalar = event_pb2, masked_crc32c, scalar
    self.workdir = os.path.abspath(workdir)
    self.metrics = os.path.join(self.workdir, 'metrics.jsonl')
    self.root = os.path.join(self.workdir, TB_DIR)
    self.num_seeds = int(config.num_seeds) if config is not None and 'num_seeds' in config else None
    self.state = self._load()
    for rel, size in self.state['sizes'].items():  # events written after the last progress save
      path = os.path.join(self.root, rel, EVENTS)
      if os.path.exists(path) and os.path.getsize(path) > size:
        with open(path, 'r+b') as f:
          f.truncate(size)

  # -------------------------------------------------------------------------------------------------

  def _load(self) -> dict:
    path = os.path.join(self.root, PROGRESS)
    if os.path.exists(path):
      with open(path) as f:
        return json.load(f)
    return {'offset': 0, 'last': {}, 'band_last': {}, 'pending': {}, 'sizes': {}, 'layout_metrics': []}

  def _save(self) -> None:
    write_atomic(os.path.join(self.root, PROGRESS), json.dumps(self.state))

  def _append(self, rel: str, events: list) -> None:
    """Appends events (each a Summary or a header Event) to the run directory's event file, framed as
    TFRecords. tensorboardX's RecordWriter opens files with 'wb' (truncating), so appending across a
    resume needs this framing of our own: length, masked CRC of the length, data, masked CRC."""
    path = os.path.join(self.root, rel, EVENTS)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fresh = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, 'ab') as f:
      if fresh:
        f.write(self._record(self._event_pb2.Event(wall_time=time.time(), file_version='brain.Event:2')))
      for step, summary in events:
        f.write(self._record(self._event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)))
      f.flush()
      os.fsync(f.fileno())
    self.state['sizes'][rel] = os.path.getsize(path)

  def _record(self, event) -> bytes:
    data = event.SerializeToString()
    header = struct.pack('Q', len(data))
    return header + struct.pack('I', self._crc(header)) + data + struct.pack('I', self._crc(data))

  # -------------------------------------------------------------------------------------------------

  def update(self) -> int:
    """Consumes the complete lines appended to metrics.jsonl since the last call; writes each run's new
    points and every band that became complete. Returns the number of lines consumed."""
    size = os.path.getsize(self.metrics) if os.path.exists(self.metrics) else 0
    offset = min(self.state['offset'], size)  # the runner cut the file back on resume
    if size == offset:
      self.state['offset'] = offset
      return 0
    with open(self.metrics, 'rb') as f:
      f.seek(offset)
      data = f.read(size - offset)
    end = data.rfind(b'\n') + 1  # a line still being written waits for the next call
    lines = [json.loads(l) for l in data[:end].decode('utf-8').splitlines() if l.strip()]
    by_run: dict[str, list] = {}
    for l in lines:
      cell = f'{l["arm"]}/{_point_name(l["grid"])}'
      run = f'{cell}/seed_{l["seed"]}'
      step = int(l['step'])
      values = {
        k: v for k, v in l['metrics'].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
      }
      if step > self.state['last'].get(run, -1):
        by_run.setdefault(run, []).append((step, values))
        self.state['last'][run] = step
      if step > self.state['band_last'].get(cell, -1):
        self.state['pending'].setdefault(cell, {}).setdefault(str(step), {})[str(l['seed'])] = values
    for run, points in by_run.items():
      self._append(run, [(s, self._summary(v)) for s, v in points])
    self._flush_bands(final=False)
    self.state['offset'] = offset + end
    self._save()
    return len(lines)

  def _summary(self, values: dict):
    from tensorboardX.proto.summary_pb2 import Summary

    return Summary(value=[v for k, x in values.items() for v in self._scalar(k, x).value])

  def _flush_bands(self, final: bool) -> None:
    from exp.analysis.stats import describe

    for cell, steps in self.state['pending'].items():
      ready = sorted(
        (int(s) for s, seeds in steps.items() if final or (self.num_seeds and len(seeds) >= self.num_seeds))
      )
      if not ready:
        continue
      events, names = [], set()
      for s in ready:
        seeds = steps.pop(str(s))
        metric_names = sorted({k for v in seeds.values() for k in v})
        band = {}
        for m in metric_names:
          d = describe(np.array([v.get(m, np.nan) for v in seeds.values()], float))
          for tag, x in (('mean', d['mean']), ('ci95_lo', d['ci95'][0]), ('ci95_hi', d['ci95'][1])):
            if np.isfinite(x):
              band[f'{m}/{tag}'] = x
          names.add(m)
        events.append((s, self._summary(band)))
        self.state['band_last'][cell] = max(s, self.state['band_last'].get(cell, -1))
      self._append(f'{cell}/mean_ci', events)
      self._layout(names)

  def _layout(self, names: set) -> None:
    known = set(self.state['layout_metrics'])
    if names <= known:
      return
    from tensorboardX.summary import custom_scalars

    known |= names
    self.state['layout_metrics'] = sorted(known)
    charts = {m: ['Margin', [f'{m}/mean', f'{m}/ci95_lo', f'{m}/ci95_hi']] for m in sorted(known)}
    self._append('.', [(0, custom_scalars({'mean ± 95% CI over seeds': charts}))])

  def close(self, complete: bool = False) -> None:
    """Consumes what is left; with ``complete`` (the job finished) also writes the bands of steps not
    every seed logged, over the seeds that did."""
    self.update()
    if complete:
      self._flush_bands(final=True)
      self._save()
