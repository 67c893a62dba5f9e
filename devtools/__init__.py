"""Tooling for running the Threadline stack on one machine: make targets and tests use it."""
