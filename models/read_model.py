"""Reads a drift model's skops file and prints its numbers as JSON (``models.store``
runs this as a child process, so that the process asking never imports scikit-learn).

    python -m models.read_model PATH

Exit status 0 with the JSON on stdout; ``models.store.REFUSED_STATUS`` with the reason on
stderr when the file is no model, or asks for a type the loader does not trust.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from models.scorer import ModelError
from models.store import REFUSED_STATUS, model_numbers


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m models.read_model PATH", file=sys.stderr)
        return 2
    try:
        numbers = model_numbers(Path(argv[0]))
    except ModelError as exc:
        print(str(exc), file=sys.stderr)
        return REFUSED_STATUS
    sys.stdout.write(json.dumps(numbers))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
