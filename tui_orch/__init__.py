"""tui-orch: a keyboard-driven console that runs a small fleet of Docker hosts over SSH."""

__version__ = "0.1.0"
