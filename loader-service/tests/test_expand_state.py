"""A database whose contract revision is held back (1.x clients still live) takes this loader's writes."""

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from conftest import person_rows, write_csv
from pydantic import SecretStr

from loader_service.config import Settings
from loader_service.run import RunOptions, run_load
from orm_models import migrate


def test_loads_into_a_database_still_holding_last_name(
    create_database: Callable[[], str], tmp_path: Path
) -> None:
    url = create_database()
    migrate(url, "0002")  # what 1.1.0 clients run on
    assert migrate(url) == "0003"  # the routine migrate of this release holds the contract back
    settings = Settings(database_url=SecretStr(url))
    rows = person_rows(5)

    first = run_load(settings, RunOptions(str(write_csv(tmp_path / "v1.csv", rows))))
    rows[2]["familyName"] = "Renamed"
    second = run_load(settings, RunOptions(str(write_csv(tmp_path / "v2.csv", rows))))

    assert (first.inserted, second.updated) == (5, 1)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        names = connection.execute(sa.text("SELECT external_id, last_name, family_name FROM person")).all()
    engine.dispose()
    # 1.x readers, which map last_name, see what this 2.x loader wrote into family_name.
    assert {row.external_id: (row.last_name, row.family_name) for row in names} == {
        row["id"]: (row["familyName"], row["familyName"]) for row in rows
    }
