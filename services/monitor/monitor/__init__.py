"""Threadline's task monitor: consume -> merge -> store -> serve."""
