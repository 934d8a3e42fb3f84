"""Command-line plumbing for run.py: flag errors as one clear line with exit code 2, quiet logging."""

from __future__ import annotations

import difflib
import glob
import importlib.util
import logging as pylogging
import os
import sys
import warnings

from absl import flags, logging

from exp.core.experiment import ConfigError

warnings.filterwarnings('ignore', message='the load_module', category=DeprecationWarning)
FAILED = 1  # the catalogue: an experiment crashed (the others ran; its traceback is in its workdir)
BAD_INPUT = 2
INTERRUPTED = 3


def fail(message: str) -> None:
  print(f'tenfold: {message}', file=sys.stderr, flush=True)
  sys.exit(BAD_INPUT)


def parse_flags(argv: list[str]) -> list[str]:
  """absl flags parser for app.run: any flag or config error exits 2 with one line (absl exits 1)."""
  try:
    rest = flags.FLAGS(argv)
    config = flags.FLAGS['config'].value
    if config is not None:
      config.keys()  # config_flags defers a failed load (e.g. a missing file) to first use
    return rest
  except SystemExit:
    raise
  except Exception as e:  # noqa: BLE001 - every parse failure becomes one line
    fail(explain(e, argv))


def explain(error: Exception, argv: list[str]) -> str:
  """Names the offending flag or key and what is accepted, from the command line itself."""
  args = {
    a.split('=', 1)[0]: (a.split('=', 1)[1] if '=' in a else None) for a in argv[1:] if a.startswith('--')
  }
  spec = args.get('--config')
  if spec is None:
    return (
      f'--config is required; accepted: {", ".join(_config_files()) or "a config file"} (":smoke" shrinks it)'
    )
  if '--workdir' not in args or not args['--workdir']:
    return '--workdir is required: the directory for checkpoints and results (rerun with it to resume)'
  path, _, variant = spec.partition(':')
  if not os.path.isfile(path):
    return f'--config: no such config file {path!r}; accepted: {", ".join(_config_files())}'
  try:
    config = _load(path, variant or None)
  except Exception as e:  # noqa: BLE001
    return f'--config={spec}: {_first_line(e)}'
  keys = _flat_keys(config)
  for name in args:
    if name.startswith('--config.'):
      key = name[len('--config.') :]
      if key not in keys:
        near = difflib.get_close_matches(key, keys, n=1)
        hint = f'; did you mean {near[0]!r}?' if near else ''
        return f'{name}: unknown config key {key!r}{hint} (accepted: {", ".join(sorted(keys))})'
  return _first_line(error)


def launch(config, workdir: str, report_only: bool, argv: list[str], distributed: dict | None = None) -> int:
  if len(argv) > 1:
    fail(f'unexpected arguments {argv[1:]}; use --config=FILE --workdir=DIR [--config.key=value]')
  if os.path.exists(workdir) and not os.path.isdir(workdir):  # the runner's check, before jax starts
    fail(f'--workdir: {workdir} exists and is not a directory')
  from exp.core import catalogue, runner  # imported here so flag errors never pay for jax start-up

  quiet_logging()
  try:
    if catalogue.is_catalogue(config):  # configs/catalogue.py: every experiment, then the dashboard
      if report_only:
        fail("--report_only: not for the catalogue; run it on one experiment's workdir (DIR/<name>)")
      outcome = catalogue.run(config, workdir, distributed=distributed)
      return {'complete': 0, 'failed': FAILED}.get(outcome.status, INTERRUPTED)
    outcome = runner.run(config, workdir, report_only=report_only, distributed=distributed)
  except ConfigError as e:
    fail(_flag_name(e.key) + ': ' + str(e).split(': ', 1)[1])
  return 0 if outcome.status in ('complete', 'reported') else INTERRUPTED


def quiet_logging() -> None:
  """Unless --verbosity was given: absl at WARNING and no orbax lines at all. Orbax logs harmless
  ERRORs about in-flight tmp checkpoints when saves follow each other quickly; a real checkpoint
  failure raises, and the runner reports fallbacks itself."""
  if any(a.startswith(('--verbosity', '-v=')) for a in sys.argv):
    return
  logging.set_verbosity(logging.WARNING)
  pylogging.getLogger('absl').addFilter(lambda r: '/orbax/' not in r.pathname)


def _flag_name(key: str) -> str:
  engine_flags = ('workdir', 'report_only', 'coordinator_address', 'num_processes', 'process_id')
  return f'--{key}' if key in engine_flags else f'--config.{key}'


def _config_files() -> list[str]:
  return sorted(f for f in glob.glob('configs/*.py') if not f.endswith('__init__.py'))


def _load(path: str, variant):
  spec = importlib.util.spec_from_file_location('_tenfold_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)


def _flat_keys(config, prefix: str = '') -> list[str]:
  out = []
  for k, v in config.items():
    if hasattr(v, 'items'):
      out += _flat_keys(v, f'{prefix}{k}.')
    else:
      out.append(f'{prefix}{k}')
  return out


def _first_line(e: Exception) -> str:
  text = str(e).strip() or type(e).__name__
  if len(text) > 1 and text[0] == text[-1] and text[0] in '\'"':  # KeyError/AttributeError repr
    text = text[1:-1]
  return text.splitlines()[0]
