"""Client registration and heartbeat (README: "Renaming a column"), off the request path.

At start-up, and then every `registry_heartbeat_seconds`, a background thread records this
process in orm-models' client registry, so `orm-models migrate --contract` sees the API as live
and knows which columns it maps. The thread has its own one-connection engine: it never takes a
connection from the request pool. Failures are logged and retried (after at most
`RETRY_SECONDS`); a read-only database role gets one warning line. With an orm-models older
than 2.3 (no registry) it logs once and stays idle: this service's range still admits 2.1.
"""

import logging
import threading
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

import orm_models

log = logging.getLogger(__name__)

SERVICE = "api-service"
RETRY_SECONDS = 5.0


class Heartbeat:
    """Registers this process now and every `interval` seconds until `stop()`."""

    def __init__(self, database_url: str, interval: float, instance: str | None = None) -> None:
        # Named like the data sessions: the contract gate places what PostgreSQL shows of this service.
        self._engine = create_engine(
            database_url,
            pool_size=1,
            max_overflow=0,
            pool_pre_ping=True,
            connect_args={"application_name": SERVICE},
        )
        self._interval = interval
        self._instance = instance
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registry-heartbeat", daemon=True)
        self._warned_read_only = False
        self.state: dict[str, Any] = {"status": "pending", "detail": "not registered yet"}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._engine.dispose()

    def beat(self) -> bool:
        """One registration; True when it was recorded. Never raises."""
        register = getattr(orm_models, "register_client", None)
        if register is None:
            self.state = {
                "status": "unsupported",
                "detail": f"orm-models {orm_models.__version__} has no client registry (2.3 or later has)",
            }
            return False
        try:
            registration = register(self._engine, service=SERVICE, instance=self._instance, written=())
        except (DBAPIError, PoolTimeoutError) as error:
            self.state = {"status": "failed", "detail": "database unreachable"}
            log.warning("registry heartbeat failed, retrying: %s", str(error.args[0]).strip().splitlines()[0])
            return False
        except orm_models.RegistrationError as error:
            self.state = {"status": "failed", "detail": str(error)}
            if not (error.read_only and self._warned_read_only):
                log.warning("registry heartbeat: %s", error)
            self._warned_read_only |= bool(error.read_only)
            return False
        except Exception as error:  # a heartbeat must never take the service down
            self.state = {"status": "failed", "detail": type(error).__name__}
            log.exception("registry heartbeat failed, retrying")
            return False
        self.state = {
            "status": "registered",
            "instance": registration.instance,
            "last_seen_at": registration.last_seen_at.isoformat(),
            "detail": f"registered as {SERVICE} {registration.instance}",
        }
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            ok = self.beat()
            if self.state["status"] == "unsupported":
                log.info("registry heartbeat: %s", self.state["detail"])
                return
            self._stop.wait(self._interval if ok else min(self._interval, RETRY_SECONDS))
