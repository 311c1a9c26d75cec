"""The kernel: the event model and what every layer shares. It imports nothing else of the
project."""
