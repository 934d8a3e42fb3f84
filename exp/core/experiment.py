"""The experiment contract: what a family module hands the runner.

A family module (``exp/families/<name>/``, or any module named by a dotted path, see
``exp.core.registry``) exposes ``validate(config)`` (raise ``ConfigError`` for bad values, before anything
is computed or written) and ``build(config) -> Experiment``. The runner (``exp/core/runner.py``)
does everything else: runs axis = grid x seeds, one ``jit(vmap(...))`` per arm, ``lax.scan`` over chunks,
checkpoints, metrics, early stop, sharding.

Conventions for the pure functions of an arm (all traced; no I/O, no Python side effects, no host sync):

- ``init(key, hp) -> state`` (``init(key, hp, base)`` when the experiment has a pretraining stage): ``key`` is the run key ``fold_in(root_key(config.seed), seed)``; it depends
  on the seed only, so every grid point of one seed shares its data and initial parameters (common random
  numbers). ``hp`` is a dict of scalar arrays, one entry per grid name.
- ``step(state, hp, key) -> (state, metrics)``: one update; ``key = fold_in(run_key, step)``. ``metrics``
  is a dict of scalars describing the state *before* the update (plus the update's own loss), so a logged
  point at step t describes the model after t updates.
- ``evaluate(state, hp) -> metrics``: final scalar metrics of a run.
- ``done(state, hp) -> bool`` (optional): the run has reached its goal. Checked before each update; the
  runner records the number of updates taken until it first held (``steps_to_done``) and freezes the run's
  state from then on, so a run's results never depend on which other runs share its batch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from exp.core.validate import ConfigError  # noqa: F401 - re-exported: families raise it


@dataclasses.dataclass(frozen=True)
class Arm:
  """A named static variant, compiled once. ``grid`` maps each grid name to a 1-D array of G values
  (the arm's grid points, a product already flattened); every grid point runs with every seed."""

  name: str
  grid: Mapping[str, np.ndarray]
  init: Callable[..., Any]
  step: Callable[..., Any]
  evaluate: Callable[..., Any]
  num_steps: int
  done: Callable[..., Any] | None = None
  # True when ``step``'s metrics carry 'done': done(state, hp) of the state *before* the update, computed
  # from the step's own forward pass. The runner then takes it from there instead of calling ``done``
  # every step (a second forward pass) and does not log it; ``done`` still judges the final state.
  step_reports_done: bool = False

  @property
  def num_points(self) -> int:
    return len(next(iter(self.grid.values()))) if self.grid else 1


@dataclasses.dataclass(frozen=True)
class Experiment:
  """What ``build(config)`` returns.

  ``analyze(runs, config) -> dict`` turns the list of run records (see docs/design.md, "The workdir") into
  the family's statistics; it must include ``headline`` (see exp/analysis/dashboard.py). ``report(analysis, runs,
  log, config, plot_dir) -> str`` writes plots into ``plot_dir`` and returns the markdown report;
  ``log`` is an ``exp.core.workdir.MetricsLog`` over metrics.jsonl.
  """

  name: str
  arms: tuple[Arm, ...]
  analyze: Callable[..., dict]
  report: Callable[..., str]
  # Optional pretraining stage, run once per seed before the arms (a base model, a teacher). Its grid
  # is ignored (hp is {}); its init gets fold_in(run_key, PRETRAIN_STREAM), a stream of its own. The
  # pytree ``pretrain_output(state)`` is cached in workdir/pretrain/<sha256 of the config values named
  # in ``pretrain_keys`` + seeds>/ (orbax) and handed to every arm as ``init(key, hp, base)``, base being
  # the run's own seed's. Its final metrics appear in results.json as runs of arm "pretrain".
  pretrain: Arm | None = None
  pretrain_output: Callable[[Any], Any] | None = None
  pretrain_keys: tuple[str, ...] = ()
