"""Placeholder: filled in by the tasks work (issue 3)."""
