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


def did_you_mean(name: str, known) -> str:
    """ "; did you mean X?" when `name` looks like a typo of one of `known`, else ""."""
    from difflib import get_close_matches

    close = get_close_matches(name, list(known), n=2, cutoff=0.75)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def unknown(kind: str, name: str, known) -> UserError:
    """The error for a name that is not one of `known`, with a suggestion
    when a typo is likely (`unknown allocator 'jemaloc'; did you mean jemalloc?`)."""
    known = list(known)
    return UserError(f"unknown {kind} '{name}'{did_you_mean(name, known)} (known: {', '.join(known)})")
