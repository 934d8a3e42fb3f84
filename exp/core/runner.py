"""The runner: the only place where jit, vmap, scan, sharding and checkpointing happen.

``run(config, workdir)`` executes every arm x grid point x seed of an experiment, resumably, and writes
the workdir (docs/design.md, "The workdir"; exp/core/workdir.py):

  config.json    resolved config + sha256      checkpoints/  orbax, the batch in progress + position
  metrics.jsonl  one line per (run, log point)  results.json  runs + analysis (atomic)
  report.md      the finding                    plots/*.png

Runs of an arm form its runs axis (grid-major: run r = g * num_seeds + s). With ``vectorize=True`` the
whole axis is one batch, sharded over all local devices; with ``vectorize=False`` each run is its own batch
of one through the very same compiled chunk function (the benchmark baseline).

Resume order (the one place it is written down):
  1. config.json: absent -> fresh start; same sha256 -> resume; different -> refuse (ConfigError).
  2. results.json complete with the same sha256 -> print the report again, compute nothing.
  3. checkpoints/: newest step whose items restore cleanly (a torn or corrupt one falls back to the
     previous, with a warning). Its ``progress`` item says which arm and batch was in progress, at which
     step, the records of finished runs, and the byte length of metrics.jsonl at that moment; the file is
     truncated back to that length, so lines written after the checkpoint are recomputed, not duplicated.
  4. the ``state`` item (the batch's stacked, unpadded run state) is restored onto the current devices
     (any device count) and training continues from the saved step with the same chunk function.
Per-step randomness is fold_in(run_key, step), so a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from exp.core import registry
from exp.core import validate as cfglib
from exp.core.experiment import Arm, ConfigError, Experiment
from exp.core.live import Live
from exp.core.workdir import (
  MetricsLog,
  Workdir,
  WorkdirLock,
  append_lines,
  config_json,
  config_sha256,
  dumps,
  json_safe,
  truncate,
  write_atomic,
)

# Number of times each arm's chunk function was traced in this process (one trace = one compile).
TRACE_COUNTS: dict[str, int] = {}
# fold_in(run_key, PRETRAIN_STREAM) seeds the pretraining stage, so it never reuses an arm's draws.
PRETRAIN_STREAM = 0x5EED


def say(msg: str) -> None:
  print(msg, flush=True)


# ---------------------------------------------------------------------------------------------------
# Keys and run layout


def seed_key(root_seed: int, seed: int) -> jax.Array:
  """Seed s's run key: fold_in(root, s), the same whatever else runs beside it."""
  return jax.random.fold_in(jax.random.key(root_seed), seed)


def run_table(arm: Arm, seeds: np.ndarray) -> list[dict]:
  """The arm's runs axis, grid-major: [{'seed': s, 'grid': {name: value}}, ...]."""
  out = []
  for g in range(arm.num_points):
    point = {k: _py(v[g]) for k, v in arm.grid.items()}
    for s in seeds:
      out.append({'seed': int(s), 'grid': point})
  return out


def _py(x):
  x = np.asarray(x).item()
  return x


# ---------------------------------------------------------------------------------------------------
# The pure program of one run, chunked


def _tree_where(pred, a, b):
  return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


def _all_finite(tree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


# Compiled init and final programs shared by arms with the same functions (memorization's three
# categorical arms share one init and one final): jit's own cache then skips the repeat compiles.
_SHARED: dict = {}


def _shared_init(arm: Arm):
  key = ('init', arm.init)
  if key not in _SHARED:

    def init_one(key, hp, *base):  # base: () or (the run's seed's pretrained pytree,)
      return dict(
        state=arm.init(key, hp, *base),
        done=jnp.array(False),
        done_step=jnp.int32(-1),
        diverged=jnp.array(False),
        diverged_step=jnp.int32(-1),
      )

    _SHARED[key] = jax.jit(jax.vmap(init_one))
  return _SHARED[key]


def _shared_final(arm: Arm):
  key = ('final', arm.evaluate, arm.done)
  if key not in _SHARED:

    def final_one(carry, hp, num_steps):
      state = carry['state']
      metrics = arm.evaluate(state, hp)
      done = carry['done']
      done_step = carry['done_step']
      if arm.done is not None:  # the check at the start of step num_steps, after the last update
        late = ~done & ~carry['diverged'] & arm.done(state, hp)
        done_step = jnp.where(late, num_steps, done_step)
        done = done | late
      return dict(
        metrics=metrics,
        done=done,
        done_step=done_step,
        diverged=carry['diverged'],
        diverged_step=carry['diverged_step'],
      )

    _SHARED[key] = jax.jit(jax.vmap(final_one, in_axes=(0, 0, None)))
  return _SHARED[key]


# XLA's CPU copy insertion, by default, copies the whole loop-carried state of a chunk's step loop at
# every step when an update could overwrite a value a later op of the same step still reads (e.g. Adam
# reading the old moments in the parameter update while rewriting them in place). Its region analysis
# proves most of those copies unnecessary. The values are the same bit for bit (tests/core/
# test_runner.py); memorization's sl arm runs ~2x faster with it (README, "Benchmarks").
CPU_CHUNK_OPTIONS = {'xla_cpu_copy_insertion_use_region_analysis': True}


def chunk_compiler_options() -> dict | None:
  """XLA options of the chunk programs: CPU_CHUNK_OPTIONS on the CPU backend, none elsewhere."""
  return dict(CPU_CHUNK_OPTIONS) if jax.default_backend() == 'cpu' else None


class Chunk:
  """The chunk program of an arm: ``chunk(carry, hp, keys, start) -> (carry, metrics)``, chunk_steps
  steps of every run, metrics subsampled every log_every steps.

  Two compiled versions give the same result. The *fast* one freezes a run by selecting its old state
  when it is done or out of budget (a per-run flag known before the update, so the select fuses into
  the update) and checks the state for non-finite values once per log block. The *exact* one checks
  every step's new state and keeps the last finite one (the run diverged at that step). A chunk runs
  fast; if a run's state is non-finite at a log point, the chunk is rerun from its input with the exact
  version (compiled the first time it is needed), so a diverged run keeps its last finite state and the
  step is recorded exactly, at the price of one chunk computed twice. (A step whose state turns
  non-finite and finite again within one log block is not caught; no step function in tenfold does.)
  """

  def __init__(self, arm: Arm, chunk_steps: int, log_every: int):
    self.arm, self.n_logs, self.log_every = arm, chunk_steps // log_every, log_every
    options = chunk_compiler_options()
    self.fast = jax.jit(self._batch(exact=False), compiler_options=options)
    self.exact = jax.jit(self._batch(exact=True), compiler_options=options)
    self.replays = 0  # chunks recomputed by the exact version

  def __call__(self, carry, hp, keys, start):
    new, metrics, bad = self.fast(carry, hp, keys, start)
    if bool(jax.device_get(bad)):
      self.replays += 1
      new, metrics, _ = self.exact(carry, hp, keys, start)
    return new, metrics

  def _step(self, carry, hp, run_key, t, exact: bool):
    arm = self.arm
    state = carry['state']
    active = t < arm.num_steps
    new_state, metrics = arm.step(state, hp, jax.random.fold_in(run_key, t))
    if arm.step_reports_done:  # the step's own forward pass decided done(state) before its update
      metrics = dict(metrics)
      is_done = metrics.pop('done')
    else:
      is_done = arm.done(state, hp) if arm.done is not None else jnp.array(False)
    is_done = is_done & active
    newly_done = is_done & ~carry['done']
    done = carry['done'] | is_done
    live = active & ~done & ~carry['diverged']
    newly_div = jnp.array(False)
    if exact:
      finite = _all_finite(new_state)
      newly_div = live & ~finite
      live = live & finite
    carry = dict(
      state=_tree_where(live, new_state, state),
      done=done,
      done_step=jnp.where(newly_done, t, carry['done_step']).astype(jnp.int32),
      diverged=carry['diverged'] | newly_div,
      diverged_step=jnp.where(newly_div, t, carry['diverged_step']).astype(jnp.int32),
    )
    return carry, metrics

  def _batch(self, exact: bool):
    log_every, n_logs, name = self.log_every, self.n_logs, self.arm.name

    def chunk_one(carry, hp, run_key, start):
      if not exact:
        TRACE_COUNTS[name] = TRACE_COUNTS.get(name, 0) + 1  # runs at trace time only
      shapes = jax.eval_shape(lambda c: self._step(c, hp, run_key, start, exact)[1], carry)
      blank = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

      def block(carry, b):
        # One scan over the block's steps (the step is traced once); the first step's metrics are kept.
        def body(c, i):
          c, kept = c
          c, metrics = self._step(c, hp, run_key, start + b * log_every + i, exact)
          return (c, _tree_where(i == 0, metrics, kept)), None

        (carry, kept), _ = jax.lax.scan(body, (carry, blank), jnp.arange(log_every, dtype=jnp.int32))
        return carry, (kept, ~_all_finite(carry['state']))

      carry, (metrics, bad) = jax.lax.scan(block, carry, jnp.arange(n_logs, dtype=jnp.int32))
      return carry, metrics, jnp.any(bad)

    def chunk_batch(carry, hp, keys, start):
      carry, metrics, bad = jax.vmap(chunk_one, in_axes=(0, 0, 0, None))(carry, hp, keys, start)
      return carry, metrics, jnp.any(bad)

    return chunk_batch


def make_programs(arm: Arm, chunk_steps: int, log_every: int):
  """Returns (init_fn, chunk_fn, final_fn) over the runs axis: ``init_fn(keys, hp, *base) -> carry``,
  ``chunk_fn`` a ``Chunk``, ``final_fn(carry, hp) -> final metrics and flags``.

  The carry of a run is {'state', 'done', 'done_step', 'diverged', 'diverged_step'}. A run freezes (its
  state stops changing) once it is done, has diverged (its update produced a non-finite value; the last
  finite state is kept) or has used its step budget; a frozen run is unaffected by further chunks, so
  results do not depend on batch composition or on where early stopping cut the loop.
  """
  init_fn = _shared_init(arm)
  final = _shared_final(arm)
  num_steps = jnp.int32(arm.num_steps)
  return init_fn, Chunk(arm, chunk_steps, log_every), lambda carry, hp: final(carry, hp, num_steps)


# ---------------------------------------------------------------------------------------------------
# Devices


@dataclasses.dataclass(frozen=True)
class Placement:
  """Where a batch lives: sharded over a 1-D mesh of all local devices when it has > 1 run."""

  mesh: Mesh | None

  @property
  def num_devices(self) -> int:
    return 1 if self.mesh is None else self.mesh.devices.size

  def padded(self, n: int) -> int:
    d = self.num_devices
    return n if d == 1 else -(-n // d) * d

  def put(self, tree, n: int):
    """Pads the leading runs axis from n to padded(n) by repeating the last run, then shards it."""
    m = self.padded(n)

    def pad(x):
      if m > n:
        x = jnp.concatenate([x, jnp.repeat(x[-1:], m - n, axis=0)], axis=0)
      if self.mesh is not None:
        x = _to_global(x, NamedSharding(self.mesh, P('runs')))
      return x

    return jax.tree.map(pad, tree)


def placement_for(batch_size: int) -> Placement:
  devices = jax.devices()
  if batch_size > 1 and len(devices) > 1:
    return Placement(Mesh(np.array(devices), ('runs',)))
  return Placement(None)


def _to_global(x, sharding):
  """Places a host-side (or local) array on ``sharding``. Across processes each process holds the whole
  array and contributes its own devices' shards (device_put refuses a sharding with devices of other
  processes, typed PRNG keys included)."""
  if jax.process_count() == 1:
    return jax.device_put(x, sharding)
  return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def _host(tree, n: int):
  """The first n rows of every leaf, as numpy on this host (gathered from every process when a leaf is
  spread over several)."""

  def get(x):
    if getattr(x, 'is_fully_addressable', True):
      return jax.device_get(x[:n])
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))[:n]

  return jax.tree.map(get, tree)


DISTRIBUTED_ENV = {
  'coordinator_address': 'TENFOLD_COORDINATOR_ADDRESS',
  'num_processes': 'TENFOLD_NUM_PROCESSES',
  'process_id': 'TENFOLD_PROCESS_ID',
}


def distributed_settings(flags: dict | None = None) -> dict | None:
  """The multi-process settings from flags, else from the TENFOLD_* variables: None (one process), {}
  (TENFOLD_DISTRIBUTED=1: jax detects the cluster, e.g. SLURM or a TPU slice) or all three of
  coordinator_address, num_processes, process_id. ConfigError names a missing or bad one."""
  given = {k: v for k, v in (flags or {}).items() if v is not None}
  for k, env in DISTRIBUTED_ENV.items():
    if k not in given and os.environ.get(env):
      given[k] = os.environ[env]
  if not given:
    return {} if os.environ.get('TENFOLD_DISTRIBUTED') == '1' else None
  missing = [k for k in DISTRIBUTED_ENV if k not in given]
  if missing:
    raise ConfigError(
      missing[0],
      f'multi-process runs need --coordinator_address, --num_processes and --process_id together (or TENFOLD_COORDINATOR_ADDRESS, TENFOLD_NUM_PROCESSES, TENFOLD_PROCESS_ID); missing {", ".join(missing)}',
    )
  try:
    num, pid = int(given['num_processes']), int(given['process_id'])
  except ValueError:
    raise ConfigError(
      'num_processes',
      f'num_processes and process_id must be integers, got {given["num_processes"]!r}, {given["process_id"]!r}',
    ) from None
  if num < 1 or not 0 <= pid < num:
    raise ConfigError(
      'process_id', f'must be in [0, num_processes) = [0, {num}), got {pid} (num_processes {num})'
    )
  return {'coordinator_address': str(given['coordinator_address']), 'num_processes': num, 'process_id': pid}


def maybe_init_distributed(settings: dict | None = None) -> None:
  """Starts jax's multi-process runtime once: with the given coordinator, process count and id, or with
  jax's own cluster detection ({}). None: a single process."""
  if settings is None or jax.distributed.is_initialized():
    return
  jax.distributed.initialize(**settings)


# ---------------------------------------------------------------------------------------------------
# Entry point


@dataclasses.dataclass
class Outcome:
  status: str  # 'complete' | 'interrupted' | 'reported'
  results: dict | None
  report: str | None


def prepare(config, workdir: str):
  """Validation before any compute or write. Raises ConfigError."""
  module = registry.family_module(config)
  module.validate(config)
  wd = Workdir(workdir)
  stored = wd.check(config)
  return module, wd, stored


def run(
  config,
  workdir: str,
  report_only: bool = False,
  max_chunks: int | None = None,
  quiet: bool = False,
  distributed: dict | None = None,
  log=None,
) -> Outcome:
  """Runs (or resumes, or reports) an experiment. ``max_chunks`` stops after that many chunks with the
  checkpoint finalized, as a preemption would (used by tests). ``distributed``: multi-process settings
  (``distributed_settings``); every process runs the same call, process 0 writes the files. ``log``:
  where progress lines and the report go (default: stdout, nothing when ``quiet``)."""
  maybe_init_distributed(distributed_settings(distributed))  # before anything touches a jax backend
  module, wd, stored = prepare(config, workdir)
  sha = config_sha256(config)
  if log is None:
    log = (lambda m: None) if quiet else say
  exp = module.build(config)

  if stored is not None and stored.get('complete') and stored.get('config_sha256') == sha:
    if report_only:  # statistics are recomputed from the stored runs; nothing is trained
      stored = json.loads(dumps(dict(stored, analysis=exp.analyze(stored['runs'], config))))
      if jax.process_index() == 0:
        write_atomic(wd.results, json.dumps(stored, indent=1) + '\n')
      text = _write_report(exp, stored, config, wd)
    else:
      text = open(wd.report).read() if os.path.exists(wd.report) else _write_report(exp, stored, config, wd)
    log(text)
    return Outcome('reported', stored, text)
  if report_only:
    raise ConfigError(
      'report_only', f'{wd.results} holds no complete run of this config; run without --report_only first'
    )

  lock = WorkdirLock(wd.path)
  if jax.process_index() == 0:  # the writing process holds the workdir for the whole job
    lock.acquire()
  # Live TensorBoard curves (exp/core/live.py): metrics.jsonl tailed on the host after each chunk.
  wd.live = Live(wd.path, config) if config.get('tensorboard', False) and jax.process_index() == 0 else None
  try:
    outcome = _run_locked(exp, config, wd, sha, log, max_chunks)
    if wd.live is not None:
      wd.live.close(complete=outcome.status == 'complete')
    return outcome
  finally:
    lock.release()


def _run_locked(exp: Experiment, config, wd: Workdir, sha: str, log, max_chunks) -> Outcome:
  if not os.path.exists(wd.config) and jax.process_index() == 0:
    write_atomic(
      wd.config,
      json.dumps({'sha256': sha, 'config': json.loads(config_json(config))}, indent=1) + '\n',
    )
  records = _train(exp, config, wd, log, max_chunks)
  if records is None:
    return Outcome('interrupted', None, None)

  analysis = exp.analyze(records, config)
  results = {
    'experiment': exp.name,
    'config_sha256': sha,
    'complete': True,
    'runs': records,
    'analysis': analysis,
  }
  results = json.loads(dumps(results))
  if jax.process_index() == 0:
    write_atomic(wd.results, json.dumps(results, indent=1) + '\n')
  text = _write_report(exp, results, config, wd)
  log(text)
  log(f'[{exp.name}] wrote {wd.results}, {wd.report}, {wd.plots}/')
  return Outcome('complete', results, text)


def _write_report(exp: Experiment, results: dict, config, wd: Workdir) -> str:
  if jax.process_index() != 0:  # only process 0 writes files (the report draws its plots)
    return ''
  os.makedirs(wd.plots, exist_ok=True)
  text = exp.report(results['analysis'], results['runs'], MetricsLog(wd.metrics), config, wd.plots)
  write_atomic(wd.report, text)
  return text


# ---------------------------------------------------------------------------------------------------
# Training loop over arms and batches, with checkpoints


def _batches(n_runs: int, vectorize: bool) -> list[tuple[int, int]]:
  return [(0, n_runs)] if vectorize else [(i, i + 1) for i in range(n_runs)]


def _restore_latest(mngr, wd: Workdir, warn) -> tuple[dict | None, int | None]:
  """Newest checkpoint whose items restore cleanly; older ones are fallbacks. An unreadable one is
  moved to workdir/corrupt_checkpoints/ (kept for inspection, out of orbax's way)."""
  for step in sorted(mngr.all_steps(), reverse=True):
    try:
      r = mngr.restore(step, args=ocp.args.Composite(progress=ocp.args.JsonRestore()))
      progress = dict(r['progress'])
      if progress.get('has_state'):  # the state must read too, or this checkpoint is no good
        if not os.path.isdir(os.path.join(wd.checkpoints, str(step), 'state')):
          raise FileNotFoundError('state item missing')
      return progress, step
    except Exception as e:  # noqa: BLE001 - a torn or corrupt checkpoint: fall back to the previous one
      warn(
        f'warning: checkpoint {step} is unreadable ({type(e).__name__}: {str(e)[:80]}); '
        'falling back to the previous one'
      )
      dest = os.path.join(wd.path, 'corrupt_checkpoints', f'{step}-{int(time.time())}')
      os.makedirs(os.path.dirname(dest), exist_ok=True)
      shutil.move(os.path.join(wd.checkpoints, str(step)), dest)
      mngr.reload()
  return None, None


@dataclasses.dataclass
class Batch:
  """One batch of an arm's runs axis, ready for the compiled programs (before padding/sharding)."""

  runs: list  # run_table rows [lo, hi)
  hp: dict  # grid name -> (n,) values
  keys: jax.Array  # (n,) run keys
  extra: tuple  # () or (the runs' own seeds' pretrained bases,)

  @property
  def size(self) -> int:
    return len(self.runs)


def assemble_batch(arm: Arm, root_seed: int, seeds: np.ndarray, lo: int, hi: int, base=None) -> Batch:
  """Runs lo..hi of ``arm``'s runs axis (grid-major over ``seeds``): grid values, run keys and, with a
  pretraining stage, each run's own seed's base (``base`` is stacked over ``seeds`` by position). The
  runner and the benchmark both build their batches here."""
  runs = run_table(arm, seeds)[lo:hi]
  hp = {k: jnp.asarray(np.repeat(v, len(seeds))[lo:hi]) for k, v in arm.grid.items()}
  keys = jax.vmap(lambda s: seed_key(root_seed, s))(jnp.asarray([r['seed'] for r in runs]))
  extra = ()
  if base is not None:
    seed_pos = {int(s): i for i, s in enumerate(seeds)}
    idx = np.array([seed_pos[r['seed']] for r in runs])
    extra = (jax.tree.map(lambda x: jnp.asarray(x)[idx], base),)
  return Batch(runs, hp, keys, extra)


@dataclasses.dataclass
class _Position:
  """Where training stands: the arm and batch in progress, its step, finished run records, the next
  checkpoint number, and (after a restore) which checkpoint holds the batch's state."""

  arm_i: int = 0
  batch_i: int = 0
  start: int = 0
  finished: list = dataclasses.field(default_factory=list)
  ck_counter: int = 0
  state_restored: tuple | None = None  # (checkpoint step, arm_i, batch_i)
  fresh: bool = True
  chunks_done: int = 0


def _start_position(mngr, exp: Experiment, wd: Workdir, log) -> _Position:
  """Resume order step 3: the newest readable checkpoint's position, or a fresh start."""
  progress, ck_step = _restore_latest(mngr, wd, log)
  if progress is None:
    if jax.process_index() == 0:
      truncate(wd.metrics, 0)
    return _Position()
  pos = _Position(
    arm_i=progress['arm_index'],
    batch_i=progress['batch_index'],
    start=progress['step'],
    finished=list(progress['finished']),
    ck_counter=ck_step + 1,
    fresh=False,
  )
  if jax.process_index() == 0:
    truncate(wd.metrics, progress['metrics_bytes'])
  arm_name = exp.arms[pos.arm_i].name if pos.arm_i < len(exp.arms) else '-'
  log(
    f'[{exp.name}] resuming from checkpoint {ck_step}: arm {arm_name}, '
    f'batch {pos.batch_i}, step {pos.start}, {len(pos.finished)} runs finished'
  )
  if progress.get('has_state'):
    pos.state_restored = (ck_step, pos.arm_i, pos.batch_i)
  return pos


def _train(exp: Experiment, config, wd: Workdir, log, max_chunks) -> list | None:
  """Every arm's batches, chunk by chunk, checkpointed; returns the run records, or None when stopped
  early (``max_chunks``)."""
  seeds = config.seed_offset + np.arange(config.num_seeds)
  options = ocp.CheckpointManagerOptions(
    max_to_keep=3, enable_async_checkpointing=True, cleanup_tmp_directories=True
  )
  with ocp.CheckpointManager(wd.checkpoints, options=options) as mngr:
    pos = _start_position(mngr, exp, wd, log)
    base = None
    if exp.pretrain is not None:
      # Fresh start: pretrain (or load the cache), log its curves and records, checkpoint the position.
      # On resume the cache must hold it (it was written before the first checkpoint).
      base, pre_records = _pretrain(exp, config, wd, seeds, log, write_lines=pos.fresh)
      if pos.fresh:
        pos.finished = pre_records
        _save(mngr, pos.ck_counter, 0, 0, 0, pos.finished, wd, None, 0)
        pos.ck_counter += 1
    while pos.arm_i < len(exp.arms):
      arm = exp.arms[pos.arm_i]
      batches = _batches(arm.num_points * len(seeds), config.vectorize)
      programs = make_programs(arm, config.chunk_steps, config.log_every)
      while pos.batch_i < len(batches):
        lo, hi = batches[pos.batch_i]
        batch = assemble_batch(arm, config.seed, seeds, lo, hi, base)
        final = _run_batch(exp, arm, programs, batch, len(batches), config, mngr, wd, pos, log, max_chunks)
        if final is None:
          mngr.wait_until_finished()
          return None
        pos.finished.extend(_records(arm, batch.runs, final, arm.done is not None))
        pos.batch_i += 1
        # Forced save of the position after every batch (the last one says: all arms finished).
        nxt = (pos.arm_i, pos.batch_i) if pos.batch_i < len(batches) else (pos.arm_i + 1, 0)
        _save(mngr, pos.ck_counter, nxt[0], nxt[1], 0, pos.finished, wd, None, 0)
        pos.ck_counter += 1
        pos.start = 0
      pos.arm_i, pos.batch_i = pos.arm_i + 1, 0
    mngr.wait_until_finished()
  return pos.finished


def _run_batch(exp, arm, programs, batch, num_batches, config, mngr, wd, pos, log, max_chunks):
  """Trains one batch from its restored state or from init to the end (or until every run is done or
  diverged); a checkpoint after each chunk. Returns the final metrics (host arrays), or None when
  ``max_chunks`` stopped it."""
  init_fn, chunk_fn, final_fn = programs
  n = batch.size
  place = placement_for(n)
  hp_d, keys_d = place.put(batch.hp, n), place.put(batch.keys, n)
  if pos.state_restored is not None and pos.state_restored[1:] == (pos.arm_i, pos.batch_i):
    # Restore onto one local device whatever topology saved it, then pad and shard as usual.
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(
      lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device),
      jax.eval_shape(init_fn, batch.keys[:n], batch.hp, *batch.extra),
    )
    r = mngr.restore(pos.state_restored[0], args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
    carry = place.put(r['state'], n)
    pos.state_restored = None
  else:
    carry = init_fn(keys_d, hp_d, *(place.put(e, n) for e in batch.extra))
    pos.start = 0
  total_steps = arm.num_steps
  t_begin, steps_begin, last_print = time.time(), pos.start, 0.0
  while pos.start < total_steps:
    carry, metrics = chunk_fn(carry, hp_d, keys_d, jnp.int32(pos.start))
    flags = _host({k: carry[k] for k in ('done', 'diverged')}, n)
    _append_metrics(
      wd.metrics,
      arm.name,
      batch.runs,
      pos.start,
      config.log_every,
      total_steps,
      _host(metrics, n),
    )
    if getattr(wd, 'live', None) is not None:
      wd.live.update()
    pos.start += config.chunk_steps
    all_stopped = bool(np.all(flags['done'] | flags['diverged']))
    if pos.start < total_steps and not all_stopped:
      _save(mngr, pos.ck_counter, pos.arm_i, pos.batch_i, pos.start, pos.finished, wd, carry, n)
      pos.ck_counter += 1
    pos.chunks_done += 1
    now = time.time()
    if now - last_print > 2.0 or pos.start >= total_steps or all_stopped:
      last_print = now
      rate = (pos.start - steps_begin) / max(now - t_begin, 1e-9)
      remaining = (total_steps - min(pos.start, total_steps)) + (num_batches - pos.batch_i - 1) * total_steps
      eta = 0 if all_stopped and pos.batch_i == num_batches - 1 else remaining / max(rate, 1e-9)
      log(
        f'[{exp.name}] arm {arm.name} ({pos.arm_i + 1}/{len(exp.arms)}) batch {pos.batch_i + 1}/{num_batches}: '
        f'step {min(pos.start, total_steps)}/{total_steps}, {n} runs ({int(flags["done"].sum())} done, '
        f'{int(flags["diverged"].sum())} diverged), {rate:.0f} steps/s, ETA {_hms(eta)}'
      )
    if all_stopped:
      break
    if max_chunks is not None and pos.chunks_done >= max_chunks:
      return None
  return _host(final_fn(carry, hp_d), n)


def pretrain_cache_key(exp: Experiment, config, seeds) -> str:
  values = {k: cfglib.lookup(config, k) for k in ('seed',) + tuple(exp.pretrain_keys)}
  values['seeds'] = [int(s) for s in seeds]
  values['pretrain_num_steps'] = exp.pretrain.num_steps
  return hashlib.sha256(json.dumps(json_safe(values), sort_keys=True).encode()).hexdigest()


def _pretrain(exp: Experiment, config, wd: Workdir, seeds, log, write_lines: bool):
  """The pretraining stage: one run per seed, vectorized, then cached. Returns (base stacked over seeds
  as numpy, records). A kill during pretraining loses the pretraining (it is short); once cached, every
  rerun, resume and arm reuses it. A different pretraining config gets a different cache entry."""
  arm = exp.pretrain
  key = pretrain_cache_key(exp, config, seeds)
  cache = os.path.join(wd.path, 'pretrain', key[:16])
  runs = [{'seed': int(s), 'grid': {}} for s in seeds]
  n = len(runs)
  keys = jax.vmap(lambda s: jax.random.fold_in(seed_key(config.seed, s), PRETRAIN_STREAM))(jnp.asarray(seeds))
  init_fn, chunk_fn, final_fn = make_programs(arm, config.chunk_steps, config.log_every)
  output = jax.jit(jax.vmap(exp.pretrain_output))
  with ocp.CheckpointManager(cache, options=ocp.CheckpointManagerOptions(max_to_keep=1)) as mngr:
    if mngr.latest_step() is not None:
      abstract = jax.eval_shape(lambda k: output(init_fn(k, {})['state']), keys)
      device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
      abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), abstract)
      r = mngr.restore(
        mngr.latest_step(),
        args=ocp.args.Composite(base=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()),
      )
      meta = dict(r['meta'])
      log(f'[{exp.name}] pretrained bases for {n} seeds loaded from {cache}')
      if write_lines and meta['lines'] and jax.process_index() == 0:
        with open(wd.metrics, 'a') as f:
          f.write(meta['lines'])
      return jax.device_get(r['base']), list(meta['records'])
    place = placement_for(n)
    keys_d = place.put(keys, n)
    carry = init_fn(keys_d, {})
    t0 = time.time()
    before = os.path.getsize(wd.metrics) if os.path.exists(wd.metrics) else 0
    for start in range(0, arm.num_steps, config.chunk_steps):
      carry, metrics = chunk_fn(carry, {}, keys_d, jnp.int32(start))
      _append_metrics(
        wd.metrics,
        'pretrain',
        runs,
        start,
        config.log_every,
        arm.num_steps,
        _host(metrics, n),
      )
    final = _host(final_fn(carry, {}), n)
    records = _records(arm, runs, final, arm.done is not None)
    for r in records:
      r['arm'] = 'pretrain'
    base = _host(output(carry['state']), n)
    with open(wd.metrics) as f:
      f.seek(before)
      lines = f.read()
    mngr.save(
      0,
      args=ocp.args.Composite(
        base=ocp.args.StandardSave(base),
        meta=ocp.args.JsonSave({'key': key, 'records': records, 'lines': lines}),
      ),
      force=True,
    )
    mngr.wait_until_finished()
    log(
      f'[{exp.name}] pretrained {n} seeds x {arm.num_steps} steps in {time.time() - t0:.1f}s; cached in {cache}'
    )
    return base, records


def _save(mngr, step, arm_i, batch_i, start, finished, wd, carry, n):
  progress = {
    'arm_index': arm_i,
    'batch_index': batch_i,
    'step': start,
    'finished': finished,
    'metrics_bytes': os.path.getsize(wd.metrics) if os.path.exists(wd.metrics) else 0,
    'has_state': carry is not None,
  }
  items = {'progress': ocp.args.JsonSave(json.loads(dumps(progress)))}
  if carry is not None:  # unpadded, so it restores onto any device count
    items['state'] = ocp.args.StandardSave(jax.tree.map(lambda x: x[:n], carry))
  mngr.save(step, args=ocp.args.Composite(**items), force=True)


def _append_metrics(path, arm_name, runs, start, log_every, total_steps, metrics) -> None:
  lines = []
  names = sorted(metrics)
  for i, run in enumerate(runs):
    for b in range(metrics[names[0]].shape[1] if names else 0):
      step = start + b * log_every
      if step >= total_steps:
        break
      lines.append(
        dumps(
          {
            'arm': arm_name,
            'seed': run['seed'],
            'grid': run['grid'],
            'step': step,
            'metrics': {k: metrics[k][i, b] for k in names},
          }
        )
      )
  if jax.process_index() == 0:
    append_lines(path, lines)


def _records(arm: Arm, runs: list, final: dict, has_done: bool) -> list[dict]:
  out = []
  for i, run in enumerate(runs):
    metrics = {k: v[i] for k, v in final['metrics'].items()}
    if final['diverged'][i]:
      status = 'diverged'
      metrics['diverged_step'] = int(final['diverged_step'][i])
    elif has_done and not final['done'][i]:
      status = 'censored'
    else:
      status = 'ok'
    if has_done:
      metrics['steps_to_done'] = int(final['done_step'][i]) if final['done'][i] else None
    out.append(
      {'arm': arm.name, 'seed': run['seed'], 'grid': run['grid'], 'status': status, 'metrics': metrics}
    )
  return json.loads(dumps(out))


def _hms(seconds: float) -> str:
  seconds = int(round(seconds))
  return f'{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}'
