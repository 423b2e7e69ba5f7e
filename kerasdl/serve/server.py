"""Running the app: uvicorn in the foreground (`run`) or a background thread.

`BackgroundServer` is what tests, the benchmark and the ch14 recipe use: a
real HTTP server on 127.0.0.1 and a free port, started in a thread and
stopped cleanly (queued requests finish, the watcher stops).

Example:
>>> with BackgroundServer(create_app(["savedmodels/lenet5"])) as server:
...     httpx.get(server.url + "/healthz").json()
{'status': 'ok'}
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

__all__ = ["BackgroundServer", "JsonLogFormatter", "run"]

# The environment variable that carries create_app's settings to the
# worker processes of `--workers N` (uvicorn imports the app by name).
CONFIG_ENV = "KERASDL_SERVE_CONFIG"
# Seconds a `--workers` process may take to start (import Keras, load models).
WORKER_START_S = 180


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger and the message.

    An access-log message that is already JSON is merged into the object.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
        }
        message = record.getMessage()
        try:
            fields = json.loads(message)
        except ValueError:
            fields = None
        if isinstance(fields, dict):
            entry.update(fields)
        else:
            entry["message"] = message
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _log_config(level: str = "INFO") -> dict:
    # The formatter by name: the config travels to each worker process, and
    # unpickling a class reference would import kerasdl (and Keras) there
    # before the worker answers its health check.
    handler = {"class": "logging.StreamHandler", "formatter": "json"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "kerasdl.serve.server.JsonLogFormatter"}},
        "handlers": {"json": handler},
        "loggers": {
            "kerasdl": {"handlers": ["json"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["json"], "level": "WARNING", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def app_from_env():
    """The app of a `--workers` process, from the settings in CONFIG_ENV."""
    from kerasdl.serve.app import create_app

    settings = json.loads(os.environ[CONFIG_ENV])
    return create_app(settings.pop("dirs"), **settings)


def run(app=None, *, host="127.0.0.1", port=8000, workers=1, settings=None,
        log_level="INFO") -> None:  # fmt: skip
    """Serves until interrupted, with JSON logs.

    Args:
        app: FastAPI app or None. Required for one worker.
        host: str. Address to bind.
        port: int. Port to bind.
        workers: int. Server processes; above 1, each builds its app from
            `settings` (create_app's arguments, "dirs" included).
        settings: dict or None. create_app's arguments, for workers > 1.
        log_level: str. Level of kerasdl's JSON logs.
    """
    import uvicorn

    config = _log_config(log_level)
    if workers > 1:
        os.environ[CONFIG_ENV] = json.dumps(settings)
        # Each worker imports Keras and loads the models before it answers
        # the supervisor's health check: uvicorn's default 5 s kills and
        # restarts workers that are still starting, forever.
        uvicorn.run("kerasdl.serve.server:app_from_env", factory=True, host=host,
                    port=port, workers=workers, log_config=config,
                    timeout_worker_healthcheck=WORKER_START_S)  # fmt: skip
    else:
        uvicorn.run(app, host=host, port=port, log_config=config)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BackgroundServer:
    """uvicorn serving `app` on 127.0.0.1 in a daemon thread.

    Args:
        app: the ASGI app.
        port: int or None. None: a free port.

    Attributes:
        url: str. "http://127.0.0.1:<port>".
    """

    def __init__(self, app, port: int | None = None):
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        """Starts the thread; returns once the server accepts connections.

        Raises:
            RuntimeError: if it has not started within `timeout` seconds.
        """
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Asks uvicorn to exit (the app's shutdown runs) and joins the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
