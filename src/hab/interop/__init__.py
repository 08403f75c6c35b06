"""Other tools' formats: criterion.rs trees read as runs and runs written as
criterion trees."""
