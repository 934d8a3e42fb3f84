"""The engine: the experiment contract, the runner, the workdir, the registry, validation, the CLI."""
