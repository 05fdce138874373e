"""Model-card templates, installed as the package `simsiam_zoo.cards` (see pyproject.toml)."""
