"""What every run does first: register with the client registry, then run the schema guard.

Registration lets `orm-models migrate --contract` see this loader (it runs maybe once a day, so
the default live window is 24 h). It never stops a run: a failure is logged as one line and the
next run tries again. The guard does stop it, before anything is read or written, when the
database lacks a table or column the installed models map, or when a table the loader writes has
a NOT NULL column without a server default that the loader does not write (exit 4).
"""

import logging

from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from loader_service import __version__
from loader_service.config import Settings
from loader_service.errors import SchemaRefusedError, first_line
from loader_service.logs import event
from loader_service.mapping import FIELDS
from orm_models import RegistrationError, SchemaGuardError, check_schema, register_client

log = logging.getLogger(__name__)

SERVICE = "loader-service"
WRITTEN: tuple[str, ...] = (
    *(spec.target for spec in FIELDS),
    "person.organization_id",
    "person.updated_at",
    "organization.updated_at",
)
"""Every `table.column` the merge writes (load.py's UPDATE and INSERT statements)."""


def register_and_guard(settings: Settings) -> None:
    """Register this run, then refuse (`SchemaRefusedError`) if the schema does not serve it.

    A database that cannot be reached is left to the run itself, which reports it as usual.
    """
    # Named like the load's own session: the contract gate places what PostgreSQL shows of it.
    engine = create_engine(
        settings.database_url.get_secret_value(),
        poolclass=NullPool,
        connect_args={"application_name": SERVICE},
    )
    try:
        try:
            registration = register_client(
                engine, service=SERVICE, instance=settings.instance, written=WRITTEN
            )
            event(
                log.info,
                "registered",
                service=registration.service,
                instance=registration.instance,
                orm_models=registration.orm_models_version,
                loader=__version__,
            )
        except RegistrationError as error:
            # One line, never fatal: the gate just cannot see this run until a later one registers.
            event(log.warning, "registration_failed", reason=str(error))
        with engine.connect() as connection:
            check_schema(connection, written=WRITTEN)
    except SchemaGuardError as error:
        raise SchemaRefusedError(f"{error}; nothing was read or written") from None
    except DBAPIError as error:
        event(log.warning, "startup_check_skipped", reason=first_line(error.orig or error))
    except SQLAlchemyError as error:  # one line, never a traceback; the run's own connect reports the rest
        event(
            log.warning,
            "startup_check_skipped",
            reason=f"{type(error).__name__}: {first_line(error)}",
        )
    finally:
        engine.dispose()
