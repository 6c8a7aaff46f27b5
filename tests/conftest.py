"""Tests share helpers.py; the emulator fixtures come from the package's pytest plugin."""
