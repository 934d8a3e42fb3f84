"""Config plumbing shared by all families: the family registry, common validation, hashing.

Configs are never mutated: everything derived lives in locals or frozen dataclasses.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
from collections.abc import Iterable
from typing import Any

from exp.experiment import ConfigError

# config.experiment -> module implementing validate(config) and build(config).
FAMILIES = {
  'memorization': 'exp.memorization',  # A
  'lora_collapse': 'exp.lora_collapse',  # B
  'distillation': 'exp.distillation',  # C
  'noisy_student': 'exp.noisy_student',  # D
  'capacity_cliff': 'exp.capacity_cliff',  # F
  'model_switch': 'exp.model_switch',  # I
}

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


def family_module(config):
  name = config.get('experiment', None)
  available = sorted(k for k, m in FAMILIES.items() if importlib.util.find_spec(m) is not None)
  if name not in available:
    raise ConfigError('experiment', f'unknown experiment {name!r}; accepted: {", ".join(available)}')
  return importlib.import_module(FAMILIES[name])


def config_json(config) -> str:
  """Canonical JSON text of a config (sorted keys): what config.json stores and the sha256 hashes."""
  return config.to_json(sort_keys=True, indent=1)


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


def arm_names(config) -> tuple[str, ...]:
  """config.arms as a tuple; a string override such as --config.arms=sl,rl_eoe is split on commas."""
  arms = (config.arms,) if isinstance(config.arms, str) else tuple(config.arms)
  out = []
  for item in arms:
    if isinstance(item, str):
      out += [a.strip(' \'"()[]') for a in item.split(',') if a.strip(' \'"()[]')]
    else:
      out.append(item)
  return tuple(out)


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
