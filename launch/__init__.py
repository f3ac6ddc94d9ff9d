"""absl-flags launchers, one per experiment: ``python -m launch.run_<name>``."""
