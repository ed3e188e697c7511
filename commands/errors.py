"""Errors that end a command with a message for the person."""


class CommandError(Exception):
    """The command cannot do what was asked; ``str(error)`` is the AsyncOS-style message."""


class UsageError(CommandError):
    """A one-line (batch) form was malformed."""
