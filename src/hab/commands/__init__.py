"""One module per `hab` subcommand; `hab.cli` parses and dispatches."""
