"""A tiny Flask app run by gunicorn in the tests: each view publishes a task another way."""

from __future__ import annotations

import threadline.flask
from flask import Flask, jsonify, request
from threadline import current
from threadline.http import traced_session
from tl_caller import app as celery_app
from tl_caller import echo

app = Flask(__name__)
threadline.flask.init_app(app)


@app.post("/publish/<how>")
def publish(how: str):  # type: ignore[no-untyped-def]
    value = f"web-{how}"
    if how == "delay":
        result = echo.delay(value)
    elif how == "apply_async":
        result = echo.apply_async((value,), countdown=0)
    elif how == "send_task":
        result = celery_app.send_task("tl_caller.echo", args=[value])
    else:
        result = echo.s(value).apply_async()
    return jsonify(task_id=result.id, request_id=current().request_id), 202


@app.get("/outgoing")
def outgoing():  # type: ignore[no-untyped-def]
    with traced_session() as session:
        status = session.get(request.args["url"], timeout=30).status_code
    return jsonify(status=status)
