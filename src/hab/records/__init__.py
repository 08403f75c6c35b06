"""The typed records a run stores and reads back: the plan, one record per
engine process, the run's metadata, failure kinds. Each has one definition
here, with `to_dict` for writing and a validating `from_dict` for reading."""
