"""errors.py: the exit code each failure ends a command with, and how messages name long lists."""

from __future__ import annotations

import pytest

from simsiam_zoo import errors


@pytest.mark.parametrize(
    ("error", "code", "builtin"),
    [
        (errors.DataError, 3, ValueError),
        (errors.RecipeError, 3, ValueError),
        (errors.OutputRefused, 3, ValueError),
        (errors.ConversionError, 3, ValueError),
        (errors.HubFolderError, 3, ValueError),
        (errors.ChecksumMismatch, 3, ValueError),
        (errors.RepoNotFound, 3, ValueError),
        (errors.UnknownModelError, 3, KeyError),
        (errors.NotCachedOffline, 5, ValueError),
        (errors.SourceUnavailable, 5, ValueError),
        (errors.TrainingDiverged, 4, RuntimeError),
    ],
)
def test_each_error_has_its_documented_exit_code_and_builtin_base(error: type, code: int, builtin: type) -> None:
    assert error.exit_code == code
    assert issubclass(error, builtin)  # a caller's `except ValueError` keeps catching it


def test_an_unknown_model_reads_as_its_message() -> None:
    assert str(errors.UnknownModelError("no zoo model 'x'; did you mean y?")) == "no zoo model 'x'; did you mean y?"


def test_listed_names_the_first_items_and_counts_the_rest() -> None:
    assert errors.listed(["a", "b", "c", "d"], limit=2) == "a, b, and 2 more"
    assert errors.listed(["a", "b"], limit=2) == "a, b"
    assert errors.listed([], limit=2) == ""
    assert errors.listed((1, 2, 3), limit=1, separator="; ") == "1; and 2 more"
    # A key of someone's checkpoint with a line break would break the one-line message.
    assert errors.listed(["a\nb", "c"], limit=2) == "'a\\nb', c"
