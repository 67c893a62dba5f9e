"""Flower's settings file: ``celery flower --conf=services/api/flowerconfig.py --logging=none``.

Flower (through tornado) reads this file as Python. It has Flower write its lines through
threadline's handler, to ``$LOG_DIR/flower.log`` in the stack's format, instead of tornado's
handler on standard error (``--logging=none`` keeps that one from being installed before this
file is read). The credentials are not here nor on the command line: Flower reads
FLOWER_BASIC_AUTH from the environment, and the celery command BROKER_URL.
"""

from threadline import logs

logs.configure("flower")
