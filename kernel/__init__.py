"""The kernel: the event model and what every layer shares. It imports nothing else of the
project."""

from kernel import native as _native

# Before any module of the hot path loads: serve its compiled build if one matches the sources.
_native.install()
