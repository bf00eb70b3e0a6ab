"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class AppError(Exception):
    """A problem the user can fix (bad model, bad file, bad option): no traceback."""
