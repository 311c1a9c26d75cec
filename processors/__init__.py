"""Stream processors: plain logic (stitch) and the thin Faust worker around it."""

import kernel  # noqa: F401  (first: it serves the compiled hot path, kernel.native)
