"""A researcher's own lab package, outside tenfold: its families are run by dotted path
(``config.experiment = 'toylab.walk'``) with ``tests/plugins`` on PYTHONPATH. The runner's tests use them,
so they exercise the engine without any of tenfold's own families."""
