"""What the deploy artifacts must say, checked by parsing them (no Docker engine runs here).

Each check returns the problems it found, one line each, so a test can show all of them and a
deliberately broken copy can prove that the check sees the breakage.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

SECRET_IDS = ("uv_index_private_username", "uv_index_private_password")
# Names that announce a credential, and URLs that carry one (user:password@host).
CREDENTIAL_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|API_?KEY|USERNAME", re.IGNORECASE)
CREDENTIAL_URL = re.compile(r"://[^/\s:@]+:([^/\s@]+)@")


@dataclass(frozen=True)
class Instruction:
    name: str
    value: str
    line: int


def instructions(text: str) -> list[Instruction]:
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    return [
        Instruction(item["instruction"], item["value"], item["startline"] + 1) for item in parser.structure
    ]


def stages(text: str) -> list[list[Instruction]]:
    """The instructions of each FROM stage (ARGs before the first FROM belong to none)."""
    result: list[list[Instruction]] = []
    for instruction in instructions(text):
        if instruction.name == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def dockerfile_problems(text: str, expected_cmd: str | None = None) -> list[str]:
    found: list[str] = []
    all_stages = stages(text)
    if len(all_stages) < 2:
        found.append("not multi-stage: the runtime stage must not carry the build tools")
    everything = instructions(text)
    installs = [
        i for i in everything if i.name == "RUN" and re.search(r"\buv (sync|pip)\b|\bpip install\b", i.value)
    ]
    for run in installs:
        if re.search(r"\bpip install\b", run.value) and not re.fullmatch(
            r".*pip install --no-cache-dir \"uv==\$\{UV_VERSION\}\"\s*", run.value
        ):
            found.append(f"line {run.line}: installs with pip, not from the lock: {run.value[:80]}")
        if re.search(r"\buv pip\b", run.value):
            found.append(f"line {run.line}: `uv pip` ignores the lock; use `uv sync --locked`")
    syncs = [run for run in installs if re.search(r"\buv sync\b", run.value)]
    if not syncs:
        found.append("no `uv sync`: dependencies are not installed from uv.lock")
    for run in syncs:
        for flag in ("--locked", "--no-dev"):
            if flag not in run.value.split():
                found.append(f"line {run.line}: `uv sync` without {flag}")
        for secret in SECRET_IDS:
            if not re.search(rf"--mount=type=secret,id={secret}\b", run.value):
                found.append(f"line {run.line}: `uv sync` without the BuildKit secret {secret}")
    for instruction in everything:
        if instruction.name in ("ARG", "ENV", "LABEL"):
            found += [f"line {instruction.line}: {p}" for p in _credential_assignments(instruction.value)]
    final = all_stages[-1] if all_stages else []
    users = [i.value.split(":")[0].strip() for i in final if i.name == "USER"]
    if not users or users[-1] in ("root", "0"):
        found.append("the final stage runs as root: add a USER with an unprivileged uid")
    if not any(i.name == "HEALTHCHECK" and i.value.split()[0] != "NONE" for i in final):
        found.append("the final stage has no HEALTHCHECK")
    if expected_cmd is not None:
        commands = [i.value for i in final if i.name == "CMD"]
        if not commands or expected_cmd not in _words(commands[-1]):
            found.append(f"the CMD does not run {expected_cmd!r}: {commands[-1:]}")
    return found


def _words(value: str) -> str:
    """An exec-form CMD as one plain command line."""
    return " ".join(re.findall(r'"([^"]*)"', value)) if value.lstrip().startswith("[") else value


def _credential_assignments(value: str) -> Iterator[str]:
    for name, assigned in re.findall(r"([A-Za-z_][\w.-]*)(?:=(\"[^\"]*\"|\S*))?", value):
        if CREDENTIAL_NAME.search(name):
            yield f"{name} is set in an ARG/ENV/LABEL: it would be kept in the image"
        if CREDENTIAL_URL.search(assigned):
            yield f"{name} holds a URL with a password"


def copied_sources(text: str) -> list[str]:
    """Build-context paths every COPY (not COPY --from) takes."""
    sources: list[str] = []
    for instruction in instructions(text):
        if instruction.name in ("COPY", "ADD") and "--from=" not in instruction.value:
            words = [w for w in instruction.value.split() if not w.startswith("--")]
            sources += words[:-1]
    return sources


def credentials_in_files(paths: list[Path], secrets: list[str]) -> list[str]:
    """Files (recursively) that hold a URL with a password, or one of `secrets` verbatim."""
    found: list[str] = []
    for path in paths:
        for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
            text = file.read_text(errors="replace")
            if CREDENTIAL_URL.search(text) or any(secret in text for secret in secrets if secret):
                found.append(f"{file}: holds a credential")
    return found


def compose_problems(compose: dict[str, Any]) -> list[str]:
    found: list[str] = []
    services: dict[str, Any] = compose.get("services", {})
    for name in ("postgres", "index", "migrate", "api", "loader", "web"):
        if name not in services:
            found.append(f"no {name} service")
    migrate = services.get("migrate", {})
    if "orm-models migrate" not in " ".join(migrate.get("entrypoint", []) + migrate.get("command", [])):
        found.append("the migrate service does not run `orm-models migrate`")
    for name in ("api", "loader"):
        service = services.get(name, {})
        needs = service.get("depends_on", {})
        if (
            not isinstance(needs, dict)
            or needs.get("migrate", {}).get("condition") != "service_completed_successfully"
        ):
            found.append(f"{name} does not wait for the migration to complete")
        build = service.get("build", {})
        if sorted(build.get("secrets", [])) != sorted(SECRET_IDS):
            found.append(f"{name}'s build does not get the index credentials as secrets {SECRET_IDS}")
        if "args" in build:
            found.append(f"{name}'s build passes build args: credentials belong in secrets")
    loader = services.get("loader", {})
    if "--every" not in " ".join(loader.get("entrypoint", []) + loader.get("command", [])):
        found.append("the loader does not run on a schedule (--every)")
    for secret_name in SECRET_IDS:
        source = compose.get("secrets", {}).get(secret_name, {})
        if set(source) != {"environment"}:
            found.append(f"secret {secret_name} must come from the environment, not {sorted(source)}")
    found += [f"{where}: {problem}" for where, problem in _literal_credentials(compose, "compose")]
    return found


def _literal_credentials(node: object, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and CREDENTIAL_NAME.search(str(key)) and not value.startswith("${"):
                yield f"{where}.{key}", "a literal credential (use ${VARIABLE} or a secret)"
            yield from _literal_credentials(value, f"{where}.{key}")
    elif isinstance(node, list):
        for n, item in enumerate(node):
            yield from _literal_credentials(item, f"{where}[{n}]")
    elif isinstance(node, str):
        for password in CREDENTIAL_URL.findall(node):
            if not password.startswith("${"):
                yield where, "a URL with a literal password"
