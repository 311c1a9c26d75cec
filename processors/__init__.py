"""Stream processors: plain logic (stitch) and the thin Faust worker around it."""
