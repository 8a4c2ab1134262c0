"""The manifest: deterministic, in every wheel, equal to what the tree and the import describe."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from schema_helpers import PROJECT

import orm_models
from orm_models.schema import MANIFEST_NAME, dumps, installed_manifest, read_manifest, tree_manifest


def _build_wheel(out_dir: Path) -> Path:
    # No isolation: this venv has the build requirements (the `testing` extra), and no network.
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out_dir)],
        cwd=PROJECT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = out_dir.glob("*.whl")
    return wheel


def _manifest_bytes(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(f"orm_models/{MANIFEST_NAME}")


def test_two_builds_give_identical_manifests_equal_to_the_tree(tmp_path: Path) -> None:
    first = _manifest_bytes(_build_wheel(tmp_path / "one"))
    second = _manifest_bytes(_build_wheel(tmp_path / "two"))
    assert first == second
    assert first.decode("utf-8") == dumps(tree_manifest(PROJECT / "src"))


def test_installed_wheel_ships_the_manifest_of_its_own_models() -> None:
    shipped = Path(orm_models.__file__).parent / MANIFEST_NAME
    assert shipped.is_file(), "the wheel under test carries no manifest: is the build hook configured?"
    assert shipped.read_text(encoding="utf-8") == dumps(installed_manifest())


def test_manifest_describes_tables_classes_and_api() -> None:
    manifest = installed_manifest()
    email = manifest["tables"]["person"]["columns"]["email"]
    assert email == {
        "autoincrement": False,
        "collation": None,
        "comment": None,
        "computed": None,
        "enum": None,
        "identity": None,
        "nullable": True,
        "options": {},
        "primary_key": False,
        "python_default": None,
        "python_onupdate": None,
        "server_default": None,
        "server_onupdate": False,
        "type": "VARCHAR(320)",
    }
    person = manifest["tables"]["person"]
    assert person["indexes"]["ix_person_email"] == {
        "columns": ["email"],
        "comment": None,
        "options": {},
        "referenced_by_name": None,
        "unique": False,
    }
    assert person["columns"]["created_at"]["server_default"] == "now()"
    assert person["columns"]["updated_at"]["python_onupdate"] == "sql now()"
    assert person["foreign_keys"]["fk_person_organization_id_organization"]["ondelete"] == "SET NULL"
    assert manifest["tables"]["organization"]["columns"]["id"]["identity"]["always"] is False
    relationship = manifest["classes"]["orm_models.people.Person"]["relationships"]["organization"]
    assert (relationship["target"], relationship["uselist"], relationship["back_populates"]) == (
        "orm_models.people.Organization",
        False,
        "people",
    )
    assert manifest["classes"]["orm_models.people.Person"]["attributes"]["family_name"] == "family_name"
    assert manifest["api"]["orm_models.people.Person"] == {"kind": "class", "bases": ["Base"]}
    # `from orm_models import migrate` is the function, though a submodule has the same name.
    assert manifest["api"]["orm_models"]["exports"]["migrate"] == "orm_models.migrate.migrate"
    assert manifest["version"] == orm_models.__version__


def test_read_manifest_refuses_what_is_not_one(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not an orm-models schema manifest"):
        read_manifest(bogus)
    with pytest.raises(ValueError, match="no such file"):
        read_manifest(tmp_path / "missing.json")
