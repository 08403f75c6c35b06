"""The one exception that means "the user asked for something wrong"."""


class UserError(Exception):
    """Bad input or an unusable environment: one line for the user, exit 2.

    Raised anywhere before a run writes results; the CLI prints the message
    as `hab: error: <message>` and exits with status 2, no traceback.
    """

    exit_code = 2
