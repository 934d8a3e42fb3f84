"""Config validation: ConfigError and the ``require_*`` helpers every family's ``validate`` uses.

Each helper reads one (dotted) key, checks it and returns the value; a bad value raises
``ConfigError(key, what is accepted)``, which the launcher prints as one line with exit code 2 before
anything is computed or written. Configs are never mutated: derived values live in locals or frozen
dataclasses.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ConfigError(ValueError):
  """A bad config value, unknown key or impossible combination: reported as one line, exit code 2."""

  def __init__(self, key: str, message: str):
    super().__init__(f'{key}: {message}')
    self.key = key


# Keys every experiment config has; the runner reads them.
COMMON_KEYS = (
  'experiment',
  'seed',
  'seed_offset',
  'num_seeds',
  'arms',
  'vectorize',
  'num_steps',
  'chunk_steps',
  'log_every',
)


# ---------------------------------------------------------------------------------------------------
# Validation helpers: each raises ConfigError(key, what is accepted).


def require_int(config, key: str, minimum: int | None = None) -> int:
  v = _get(config, key)
  if isinstance(v, bool) or not isinstance(v, int):
    raise ConfigError(key, f'must be an integer, got {v!r}')
  if minimum is not None and v < minimum:
    raise ConfigError(key, f'must be >= {minimum}, got {v}')
  return v


def require_positive_floats(config, key: str, nonempty: bool = True) -> tuple:
  v = _get(config, key)
  vals = tuple(v) if isinstance(v, (tuple, list)) else (v,)
  if nonempty and not vals:
    raise ConfigError(key, 'must be a non-empty tuple of positive numbers')
  for x in vals:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not x > 0:
      raise ConfigError(key, f'must contain positive numbers only, got {x!r}')
  return vals


def require_float(
  config,
  key: str,
  low: float | None = None,
  high: float | None = None,
  *,
  low_open: bool = False,
  high_open: bool = False,
) -> float:
  """A number (int or float, not bool) in the interval given by low/high (closed unless *_open)."""
  v = _get(config, key)
  if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
    raise ConfigError(key, f'must be a number, got {v!r}')
  lo_ok = low is None or (v > low if low_open else v >= low)
  hi_ok = high is None or (v < high if high_open else v <= high)
  if not (lo_ok and hi_ok):
    interval = f'{"(" if low_open else "["}{"-inf" if low is None else low}, {"inf" if high is None else high}{")" if high_open else "]"}'
    raise ConfigError(key, f'must be in {interval}, got {v}')
  return float(v)


def require_bool(config, key: str) -> bool:
  v = _get(config, key)
  if not isinstance(v, bool):
    raise ConfigError(key, f'must be True or False, got {v!r}')
  return v


def require_ints(
  config, key: str, minimum: int | None = None, *, nonempty: bool = True, unique: bool = False
) -> tuple[int, ...]:
  """A tuple of integers (a single integer counts as a 1-tuple), each >= minimum."""
  v = _get(config, key)
  vals = tuple(v) if isinstance(v, (tuple, list)) else (v,)
  if nonempty and not vals:
    raise ConfigError(key, 'must be a non-empty tuple of integers')
  for x in vals:
    if isinstance(x, bool) or not isinstance(x, int):
      raise ConfigError(key, f'must contain integers only, got {x!r}')
    if minimum is not None and x < minimum:
      raise ConfigError(key, f'must contain integers >= {minimum}, got {x}')
  if unique and len(set(vals)) != len(vals):
    raise ConfigError(key, f'has duplicates: {vals}')
  return vals


def require_floats(
  config, key: str, low: float | None = None, high: float | None = None, *, nonempty: bool = True
) -> tuple[float, ...]:
  """A tuple of numbers in [low, high] (a single number counts as a 1-tuple)."""
  v = _get(config, key)
  vals = tuple(v) if isinstance(v, (tuple, list)) else (v,)
  if nonempty and not vals:
    raise ConfigError(key, 'must be a non-empty tuple of numbers')
  for x in vals:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or x != x:
      raise ConfigError(key, f'must contain numbers only, got {x!r}')
    if (low is not None and x < low) or (high is not None and x > high):
      raise ConfigError(key, f'must contain numbers in [{low}, {high}], got {x}')
  return tuple(float(x) for x in vals)


def require_names(config, key: str, accepted: Iterable[str], *, nonempty: bool = True) -> tuple[str, ...]:
  """A tuple of names from ``accepted`` without repeats; a comma-separated string is split (as
  ``--config.key=a,b`` gives it)."""
  accepted = tuple(accepted)
  names = split_names(_get(config, key))
  if nonempty and not names:
    raise ConfigError(key, f'must name at least one of: {", ".join(accepted)}')
  for n in names:
    if n not in accepted:
      raise ConfigError(key, f'unknown value {n!r}; accepted: {", ".join(accepted)}')
  if len(set(names)) != len(names):
    raise ConfigError(key, f'names a value twice: {names}')
  return names


def require_choice(config, key: str, accepted: Iterable[str]) -> str:
  v = _get(config, key)
  accepted = tuple(accepted)
  if v not in accepted:
    raise ConfigError(key, f'unknown value {v!r}; accepted: {", ".join(accepted)}')
  return v


def validate_common(config, known_arms: Iterable[str]) -> None:
  """Checks the keys the runner reads. Called by each family's validate() first."""
  for key in COMMON_KEYS:
    _get(config, key)
  require_int(config, 'seed', 0)
  require_int(config, 'seed_offset', 0)
  require_int(config, 'num_seeds', 1)
  steps = require_int(config, 'num_steps', 1)
  chunk = require_int(config, 'chunk_steps', 1)
  log_every = require_int(config, 'log_every', 1)
  if chunk % log_every:
    raise ConfigError('log_every', f'must divide chunk_steps ({chunk}), got {log_every}')
  del steps
  known_arms = tuple(known_arms)
  arms = arm_names(config)
  if not arms:
    raise ConfigError('arms', f'must name at least one arm; accepted: {", ".join(known_arms)}')
  for a in arms:
    if a not in known_arms:
      raise ConfigError('arms', f'unknown arm {a!r}; accepted: {", ".join(known_arms)}')
  if len(set(arms)) != len(arms):
    raise ConfigError('arms', f'names an arm twice: {tuple(arms)}')
  if not isinstance(config.vectorize, bool):
    raise ConfigError('vectorize', f'must be True or False, got {config.vectorize!r}')
  if 'tensorboard' in config and require_bool(config, 'tensorboard'):  # optional key: live curves
    import importlib.util

    if importlib.util.find_spec('tensorboardX') is None:
      raise ConfigError(
        'tensorboard',
        'needs the optional package tensorboardX: pip install tensorboardX (see requirements-dev.txt)',
      )


def split_names(value) -> tuple:
  """A tuple of names; strings are split on commas (``--config.arms=sl,rl_eoe`` gives one string)."""
  items = (value,) if isinstance(value, str) else tuple(value)
  out = []
  for item in items:
    if isinstance(item, str):
      out += [a.strip(' \'"()[]') for a in item.split(',') if a.strip(' \'"()[]')]
    else:
      out.append(item)
  return tuple(out)


def arm_names(config) -> tuple[str, ...]:
  """config.arms as a tuple; a string override such as --config.arms=sl,rl_eoe is split on commas."""
  return split_names(config.arms)


def lookup(config, key: str) -> Any:
  """config['a.b'] for a dotted key; ConfigError if absent."""
  return _get(config, key)


def _get(config, key: str) -> Any:
  node = config
  for part in key.split('.'):
    try:
      node = node[part]
    except (KeyError, AttributeError):
      raise ConfigError(key, 'missing from the config') from None
  return node
