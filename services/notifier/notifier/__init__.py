"""Threadline's notification workers."""
