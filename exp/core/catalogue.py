"""The catalogue: several experiments in one command, each in its own workdir, then one dashboard.

    python run.py --config=configs/catalogue.py[:smoke] --workdir=DIR [--config.experiments=a,b]

DIR/<name>/ is an ordinary workdir run by ``exp.core.runner.run``, so each experiment keeps its own
guarantees (config identity, checkpoints, resume, lock). The catalogue adds:

- validation of every selected experiment before anything runs or is written: its config file loads,
  its family validates it and its workdir holds no other config (ConfigError otherwise: exit 2);
- a lock on DIR itself (one catalogue job per DIR), beside each experiment's own;
- order: finished experiments are skipped, the one in progress resumes, the rest run in turn, with one
  progress line per experiment and an ETA for the catalogue;
- DIR/catalogue.json (what ran, its status and wall time) and DIR/dashboard.md / DIR/dashboard.png, one
  row and one panel per finding of every complete experiment (exp/analysis/dashboard.py).

An experiment that crashes is reported (its traceback in DIR/<name>/error.txt) and the others still
run; the command then exits 1.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import time
import traceback

from exp.core import registry
from exp.core.validate import ConfigError, split_names
from exp.core.workdir import Workdir, WorkdirLock, config_sha256, write_atomic

NAME = 'catalogue'
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAILED = 1


def is_catalogue(config) -> bool:
  return config.get('experiment', None) == NAME


@dataclasses.dataclass
class Entry:
  """One selected experiment: its sub-workdir name, config file spec, config and stored results."""

  name: str
  spec: str
  config: object
  workdir: str
  stored: dict | None

  @property
  def finished(self) -> bool:
    s = self.stored
    return bool(s and s.get('complete') and s.get('config_sha256') == config_sha256(self.config))


@dataclasses.dataclass
class Outcome:
  status: str  # 'complete' | 'interrupted' | 'failed'
  entries: list
  dashboard: str | None


# ---------------------------------------------------------------------------------------------------
# Selection and validation (nothing written)


def load_config_file(spec: str, variant: str = ''):
  """``get_config`` of a config file ``path[:variant]`` (the catalogue's variant when the spec has none)."""
  path, _, own = spec.partition(':')
  full = path if os.path.isabs(path) or os.path.exists(path) else os.path.join(ROOT, path)
  if not os.path.isfile(full):
    raise FileNotFoundError(f'no config file {path!r}')
  module_spec = importlib.util.spec_from_file_location(
    '_tenfold_catalogue_' + os.path.basename(path)[:-3], full
  )
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config((own or variant) or None)


def _spec_of(item: str) -> str:
  return f'configs/{item}.py' if item in registry.FAMILIES else item


def _with_tensorboard(config, on: bool):
  if on:
    if 'tensorboard' not in config:
      raise ConfigError(
        'tensorboard', f'{config.experiment!r} has no tensorboard key (configs/common.py adds it)'
      )
    config.tensorboard = True
  return config


def select(config, workdir: str, notes: list | None = None) -> list[Entry]:
  """The catalogue's entries, loaded and validated. Raises ConfigError naming the key at fault.

  ``notes`` collects one line per registered family left out of the default selection (its config file
  is missing or fails to load, or its family fails to import or to validate)."""
  if not isinstance(config.variant, str):
    raise ConfigError('variant', f"must be '' or a variant name such as 'smoke', got {config.variant!r}")
  if not isinstance(config.tensorboard, bool):
    raise ConfigError('tensorboard', f'must be True or False, got {config.tensorboard!r}')
  notes = [] if notes is None else notes
  names = split_names(config.experiments)
  accepted = ', '.join(list(registry.FAMILIES) + ['[name=]path/to/config.py[:variant]'])
  entries, default = [], not names
  for item in names or list(registry.FAMILIES):
    label, _, given = str(item).rpartition('=') if '=' in str(item) else ('', '', str(item))
    if not (given in registry.FAMILIES or given.partition(':')[0].endswith('.py')):
      raise ConfigError('experiments', f'unknown experiment {item!r}; accepted: {accepted}')
    if label and not re.fullmatch(r'[\w.-]+', label):
      raise ConfigError('experiments', f'{item!r}: a name before "=" may hold letters, digits, _ . - only')
    spec = _spec_of(given)
    try:
      cfg = _with_tensorboard(load_config_file(spec, config.variant), config.tensorboard)
      registry.family_module(cfg).validate(cfg)
    except Exception as e:  # noqa: BLE001 - a family under construction must not break the default list
      why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
      if default:
        notes.append(f'[{NAME}] left out {item}: {why}')
        continue
      if isinstance(e, ConfigError):
        raise ConfigError(f'experiments ({item})', str(e)) from None
      raise ConfigError('experiments', f'{item!r} cannot be run: {why}') from None
    name = label or (given if given in registry.FAMILIES else str(cfg.experiment))
    sub = os.path.join(os.path.abspath(workdir), name)
    stored = Workdir(sub).check(cfg)  # a workdir holding another config is refused, default list or not
    if any(e.name == name for e in entries):
      raise ConfigError('experiments', f'names {name!r} twice')
    entries.append(Entry(name, spec, cfg, sub, stored))
  if not entries:
    first = f' (first: {notes[0].split("left out ", 1)[1]})' if notes else ''
    raise ConfigError('experiments', f'no experiment can be run{first}; accepted: {accepted}')
  return entries


def _check_dir(workdir: str) -> None:
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError('workdir', f'{workdir} exists and is not a directory')
  if os.path.exists(os.path.join(workdir, 'config.json')):
    raise ConfigError(
      'workdir', f'{workdir} holds a single experiment (config.json); give the catalogue its own --workdir'
    )


# ---------------------------------------------------------------------------------------------------
# Running


def _fmt_s(seconds: float | None) -> str:
  if seconds is None:
    return '–'
  s = int(round(seconds))
  return f'{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}'


def eta(remaining: list[str], done_s: dict[str, float], prior: dict[str, float]) -> float | None:
  """Seconds left: the remaining experiments' prior times (an unknown one counts as the mean prior),
  scaled by actual / prior over the experiments that ran in this job (1 before any has)."""
  mean = sum(prior.values()) / len(prior) if prior else None
  p = lambda n: prior.get(n, mean)
  if mean is None:
    if not done_s:
      return None
    return sum(done_s.values()) / len(done_s) * len(remaining)
  scale = sum(done_s.values()) / sum(p(n) for n in done_s) if done_s else 1.0
  return scale * sum(p(n) for n in remaining)


def _progress_only(say):
  """An experiment's one-line progress messages pass; its report (a multi-line message, already in
  DIR/<name>/report.md) does not."""
  return lambda msg: say(msg) if '\n' not in str(msg).strip() else None


def run(
  config, workdir: str, *, max_chunks: int | None = None, quiet: bool = False, distributed: dict | None = None
) -> Outcome:
  """Runs (resumes, skips) every selected experiment into workdir/<name>/, then writes the dashboard.
  ``max_chunks`` stops the experiment in progress after that many chunks, as a preemption would (tests).
  Raises ConfigError before anything is written."""
  import jax

  from exp.core import runner

  runner.maybe_init_distributed(runner.distributed_settings(distributed))
  say = (lambda m: None) if quiet else runner.say
  workdir = os.path.abspath(workdir)
  _check_dir(workdir)
  notes: list[str] = []
  entries = select(config, workdir, notes)
  writer = jax.process_index() == 0
  lock = WorkdirLock(workdir)
  if writer:
    lock.acquire()
  try:
    for n in notes:
      say(n)
    return _run_locked(config, workdir, entries, say, writer, max_chunks, distributed)
  finally:
    lock.release()


def _run_locked(config, workdir, entries, say, writer, max_chunks, distributed) -> Outcome:
  from exp.core import runner

  prior = {k: float(v) for k, v in config.expected_s.items()}
  earlier = _earlier_seconds(workdir)
  t0, done_s, state = time.time(), {}, {}
  total = len(entries)
  for i, e in enumerate(entries, 1):
    left = [x.name for x in entries[i - 1 :] if not x.finished]
    if e.finished:
      state[e.name] = {'status': 'complete', 'seconds': earlier.get(e.name)}
      say(f'[{NAME}] {i}/{total} {e.name}: finished earlier, skipped; ETA {_fmt_s(eta(left, done_s, prior))}')
      continue
    say(f'[{NAME}] {i}/{total} {e.name}: running ({e.spec}); ETA {_fmt_s(eta(left, done_s, prior))}')
    start = time.time()
    try:
      out = runner.run(
        e.config, e.workdir, max_chunks=max_chunks, distributed=distributed, log=_progress_only(say)
      )
    except Exception as err:  # noqa: BLE001 - one crashing experiment must not stop the others
      if writer:
        write_atomic(os.path.join(e.workdir, 'error.txt'), traceback.format_exc())
      state[e.name] = {'status': 'failed', 'error': f'{type(err).__name__}: {err}'.splitlines()[0]}
      say(f'[{NAME}] {i}/{total} {e.name}: FAILED ({state[e.name]["error"]}); see {e.workdir}/error.txt')
      continue
    took = time.time() - start
    state[e.name] = {'status': out.status, 'seconds': round(took, 1)}
    if out.status == 'interrupted':
      _write_state(workdir, config, entries, state, writer)
      say(f'[{NAME}] {i}/{total} {e.name}: stopped early; rerun the same command to resume')
      return Outcome('interrupted', entries, None)
    e.stored = out.results
    done_s[e.name] = took
    left = [x.name for x in entries[i:] if not x.finished]
    say(
      f'[{NAME}] {i}/{total} {e.name}: {out.status} in {_fmt_s(took)}; '
      f'{_status_counts(out.results)}; elapsed {_fmt_s(time.time() - t0)}, ETA {_fmt_s(eta(left, done_s, prior))}'
    )
  _write_state(workdir, config, entries, state, writer)
  dash = _dashboard(workdir, entries, state, say, writer)
  failed = [n for n, s in state.items() if s['status'] == 'failed']
  return Outcome('failed' if failed else 'complete', entries, dash)


def _status_counts(results: dict | None) -> str:
  found = ((results or {}).get('analysis') or {}).get('findings') or []
  if not found:
    return 'no findings'
  return 'findings: ' + ', '.join(f'{f.get("name")} {f.get("status")}' for f in found if isinstance(f, dict))


def _earlier_seconds(workdir: str) -> dict:
  """Wall seconds of experiments finished by an earlier job in this DIR (from its catalogue.json)."""
  try:
    with open(os.path.join(workdir, 'catalogue.json')) as f:
      return {x['name']: x.get('seconds') for x in json.load(f)['experiments']}
  except (OSError, ValueError, KeyError, TypeError):
    return {}


def _write_state(workdir, config, entries, state, writer) -> None:
  if not writer:
    return
  data = {
    'variant': config.variant,
    'experiments': [
      {'name': e.name, 'config': e.spec, 'workdir': e.name, **state.get(e.name, {'status': 'not run'})}
      for e in entries
    ],
  }
  write_atomic(os.path.join(workdir, 'catalogue.json'), json.dumps(data, indent=1) + '\n')


def _dashboard(workdir, entries, state, say, writer) -> str | None:
  from exp.analysis import dashboard

  rows, missing, done = [], [], 0
  for e in entries:
    if not e.finished:
      missing.append(f'{e.name} ({state.get(e.name, {}).get("status", "not run")})')
      continue
    try:
      rows += dashboard.load_findings([e.workdir])
      done += 1
    except dashboard.DashboardError:  # e.g. a researcher's family whose analysis has no headline
      missing.append(f'{e.name} (complete, but no findings or headline)')
  if not rows or not writer:
    return None
  md = dashboard.render_markdown(rows, missing=missing)
  png = dashboard.render_png(rows, os.path.join(workdir, 'dashboard.png'), missing=missing)
  md_path = write_atomic(os.path.join(workdir, 'dashboard.md'), md)
  say(f'[{NAME}] wrote {md_path} and {png} ({len(rows)} findings from {done} experiments)')
  return md_path
