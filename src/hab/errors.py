"""The one exception that means "the user asked for something wrong"."""


class UserError(Exception):
    """Bad input or an unusable environment: one line for the user, exit 2.

    Raised anywhere before a run writes results; the CLI prints the message
    as `hab: error: <message>` and exits with status 2, no traceback.
    """

    exit_code = 2


class StorageError(UserError):
    """A result could not be written (a full disk, a vanished directory): the
    run stops as interrupted, with every finished process kept, to be resumed."""
