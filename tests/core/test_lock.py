"""One live job per workdir: a second job on a held workdir is refused (one line naming the holder, exit
2, nothing written); reading a finished workdir takes no lock; a lock whose holder died never blocks."""

import fcntl
import os
import shutil

import pytest
from conftest import WALK, load_config, snapshot

from exp.core import runner
from exp.core.experiment import ConfigError
from exp.core.workdir import WorkdirLock


def _hold(workdir, text='pid 4242 on elsewhere since then'):
  """Holds workdir/.lock as another job would (a separate open file description, so flock conflicts
  even inside this process)."""
  os.makedirs(workdir, exist_ok=True)
  fd = os.open(os.path.join(workdir, '.lock'), os.O_RDWR | os.O_CREAT)
  fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  os.ftruncate(fd, 0)
  os.pwrite(fd, text.encode(), 0)
  return fd


def test_a_held_workdir_is_refused_naming_the_holder(tmp_path):
  work = str(tmp_path / 'w')
  fd = _hold(work)
  before = snapshot(work)
  with pytest.raises(ConfigError) as err:
    runner.run(load_config(WALK, arms=('walk',), num_seeds=1), work, quiet=True)
  assert (
    err.value.key == 'workdir' and 'pid 4242 on elsewhere' in str(err.value) and 'in use' in str(err.value)
  )
  assert snapshot(work) == before  # nothing written
  os.close(fd)  # the holder ends: its lock goes with it, whatever the file says
  out = runner.run(load_config(WALK, arms=('walk',), num_seeds=1), work, quiet=True)
  assert out.status == 'complete'
  assert f'pid {os.getpid()}' in open(os.path.join(work, '.lock')).read()


def test_reading_a_finished_workdir_takes_no_lock(walk_run, tmp_path):
  work = str(tmp_path / 'copy')
  shutil.copytree(walk_run, work)
  fd = _hold(work)
  try:
    cfg = load_config(WALK)
    assert runner.run(cfg, work, quiet=True).status == 'reported'
    assert runner.run(cfg, work, report_only=True, quiet=True).status == 'reported'
  finally:
    os.close(fd)


def test_lock_is_released_and_reacquired():
  lock_dir = os.path.join(os.environ.get('TMPDIR', '/tmp'), f'tenfold-lock-{os.getpid()}')
  a, b = WorkdirLock(lock_dir), WorkdirLock(lock_dir)
  with a:
    with pytest.raises(ConfigError):
      b.acquire()
  with b:
    pass
  shutil.rmtree(lock_dir)


def test_run_py_on_a_held_workdir_exits_2_with_one_line(tmp_path):
  from conftest import run_cli

  work = str(tmp_path / 'w')
  fd = _hold(work, 'pid 777 on node-3 since 2026-12-02 03:00:00')
  try:
    before = snapshot(work)
    out = run_cli(f'--config={WALK}', f'--workdir={work}')
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr[-2000:]
    assert lines[0].startswith('tenfold: --workdir: ') and 'pid 777 on node-3' in lines[0]
    assert snapshot(work) == before
  finally:
    os.close(fd)
