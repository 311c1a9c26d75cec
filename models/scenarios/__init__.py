"""Labelled agent sessions for training and judging the drift model, built from the
project's own catalogue of domains, tools, intents and threats (``models.scenarios.types``
is the shape every part agrees on)."""
