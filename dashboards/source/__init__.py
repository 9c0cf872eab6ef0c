"""Dashboard sources (YAML); package data, not code."""
