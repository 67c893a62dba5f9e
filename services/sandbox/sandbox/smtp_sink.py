"""An SMTP server that stores mail instead of sending it.

Like a real mail server it stores every mail it accepts, a repeated Message-ID included: SMTP
has no idempotency key, so a mail sent twice arrives twice. The admin API reports repeats.
"""

from __future__ import annotations

import asyncio
import logging
from email import message_from_bytes
from typing import Any

from aiosmtpd.controller import Controller
from threadline import request_context

from sandbox.faults import FaultBoard
from sandbox.records import Records

log = logging.getLogger(__name__)


class SinkHandler:
    def __init__(self, board: FaultBoard, records: Records) -> None:
        self.board = board
        self.records = records

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # The compat32 parser: two plain headers are all it reads, and the default policy's
        # header objects cost most of a delivery's CPU.
        mail = message_from_bytes(envelope.original_content or envelope.content)
        request_id, key = mail.get("X-Request-ID"), mail.get("Message-ID")
        # Waiting without blocking the event loop: other sessions go on meanwhile.
        await asyncio.sleep(self.board.latency("email"))
        with request_context(request_id):
            verdict = self.board.verdict("email")
            if verdict is not None:
                self.records.request("email", request_id, key, verdict)
                # 4xx replies are transient in SMTP: the sender should try again later.
                return "421 Service not available (injected outage)" if verdict == "outage" else "451 Injected error"
            if not key:
                self.records.request("email", request_id, key, "rejected")
                return "554 Message-ID header required"
            self.records.deliver("email", key, request_id, ",".join(envelope.rcpt_tos))
            self.records.request("email", request_id, key, "delivered")
            log.info("email delivered for key %s", key)
        return "250 Message accepted for delivery"


def start(host: str, port: int, board: FaultBoard, records: Records) -> Controller:
    """Start the sink in its own thread; the caller stops it."""
    controller = Controller(SinkHandler(board, records), hostname=host, port=port)
    controller.start()
    return controller
