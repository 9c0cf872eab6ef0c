"""Jinja2 templates of the digest and reports; package data, not code."""
