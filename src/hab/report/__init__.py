"""Turning analysed results into text: terminal tables and JSON."""
