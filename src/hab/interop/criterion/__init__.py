"""Interoperability with criterion.rs: reading its output trees, writing
trees its ecosystem (critcmp) reads, and its change-detection rule."""
