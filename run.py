"""tenfold launcher: python run.py --config=configs/<experiment>.py[:smoke] --workdir=DIR [--config.k=v]

Flags, logging and one call into the lab (exp.cli -> exp.runner.run); nothing else lives here.
Exit codes: 0 done (or report reprinted), 2 bad input (one line on stderr, nothing written),
3 stopped before the end (rerun the same command to resume).
"""

from absl import app, flags
from ml_collections import config_flags

from exp.core import cli

_CONFIG = config_flags.DEFINE_config_file(
  'config', None, 'experiment config file, e.g. configs/memorization.py or configs/memorization.py:smoke'
)
_WORKDIR = flags.DEFINE_string(
  'workdir', None, 'directory for checkpoints, metrics and results; rerun with the same workdir to resume'
)
_REPORT_ONLY = flags.DEFINE_bool('report_only', False, 'rebuild report.md and plots/ from results.json')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  return cli.launch(_CONFIG.value, _WORKDIR.value, _REPORT_ONLY.value, argv)


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
