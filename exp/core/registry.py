"""Which module implements ``config.experiment``: a registered short name or a dotted module path.

A family is any importable module (or package) with ``validate(config)`` and ``build(config) ->
Experiment``. The families shipped with tenfold are registered below by short name; a researcher's own
family needs no registration: ``config.experiment = 'my_lab.my_family'`` imports it from ``PYTHONPATH``
(the current directory included, as for ``python run.py``). docs/design.md, "Adding a family", says more.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

from exp.core.validate import ConfigError

# Short name -> module. The letters are the families of docs/families/.
FAMILIES = {
  'memorization': 'exp.families.memorization',  # A
  'lora_collapse': 'exp.families.lora_collapse',  # B
  'distillation': 'exp.families.distillation',  # C
  'noisy_student': 'exp.families.noisy_student',  # D
  'persona_dpo': 'exp.families.persona_dpo',  # E
  'capacity_cliff': 'exp.families.capacity_cliff',  # F
  'degeneration': 'exp.families.degeneration',  # G
  'self_modifying': 'exp.families.self_modifying',  # H
  'model_switch': 'exp.families.model_switch',  # I
}


def registered() -> list[str]:
  return sorted(FAMILIES)


def module_name(name: str) -> str:
  """The module path of a short name or a dotted path (returned as it is)."""
  return FAMILIES.get(name, name)


def family_module(config) -> types.ModuleType:
  """Imports the module of ``config.experiment``; ConfigError (one line) if there is none, or if it does
  not have the contract's ``validate`` and ``build``."""
  name = config.get('experiment', None)
  accepted = f'accepted: {", ".join(registered())}, or a dotted module path importable from PYTHONPATH'
  if not isinstance(name, str) or not name or name.startswith('.'):
    raise ConfigError('experiment', f'must name an experiment, got {name!r}; {accepted}')
  path = module_name(name)
  if '.' not in path and name not in FAMILIES:
    raise ConfigError('experiment', f'unknown experiment {name!r}; {accepted}')
  if '' not in sys.path and '.' not in sys.path:  # python -m / run.py from the repo: cwd is importable
    sys.path.append('')
  try:
    found = importlib.util.find_spec(path)
  except (ImportError, ValueError):  # a parent package is missing
    found = None
  if found is None:
    raise ConfigError('experiment', f'no module {path!r} found on PYTHONPATH; {accepted}')
  module = importlib.import_module(path)
  missing = [f for f in ('validate', 'build') if not callable(getattr(module, f, None))]
  if missing:
    raise ConfigError(
      'experiment', f'module {path!r} lacks {" and ".join(missing)}(config): not a tenfold family'
    )
  return module
