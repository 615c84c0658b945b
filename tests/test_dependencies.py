"""Dependency hygiene (issue 12 item 12): floors above releases with published advisories, a
committed constraints file that the scripts install from and that satisfies those floors, and
the pip-audit step in the test script."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# First release without the advisory (package → (fixed version, advisory)).
FIXED = {
    "pyjwt": ("2.10.1", "CVE-2024-53861 issuer partial match"),
    "cryptography": ("44.0.1", "CVE-2024-12797, bundled OpenSSL"),
    "starlette": ("0.49.1", "CVE-2025-62727 Range DoS, CVE-2025-54121, CVE-2024-47874"),
    "h11": ("0.16.0", "CVE-2025-43859 request smuggling"),
    "orjson": ("3.9.15", "CVE-2024-27454 recursion"),
    "aiosmtpd": ("1.4.6", "CVE-2024-34083 STARTTLS injection (test SMTP sink)"),
}


def _requirements() -> dict[str, Requirement]:
    project = PYPROJECT["project"]
    reqs = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    return {canonicalize_name(r.name): r for r in map(Requirement, reqs)}


def _floor(req: Requirement) -> Version | None:
    floors = [Version(s.version) for s in req.specifier if s.operator in (">=", "==", "~=")]
    return max(floors) if floors else None


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"constraints.txt pins exact versions: {line!r}"
            pins[canonicalize_name(name)] = pinned
    return pins


def test_floors_exclude_known_vulnerable_releases() -> None:
    reqs = _requirements()
    for name, (fixed, advisory) in FIXED.items():
        assert name in reqs, f"{name} needs a floor of its own ({advisory})"
        floor = _floor(reqs[name])
        assert floor is not None and floor >= Version(fixed), (name, str(reqs[name]), advisory)
    build = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    setuptools = next(r for r in build if r.name == "setuptools")
    floor = _floor(setuptools)
    assert floor is not None and floor >= Version("78.1.1")  # CVE-2025-47273 path traversal


def test_constraints_pin_every_dependency_within_its_floor() -> None:
    pins = _pins()
    assert "authgate" not in pins
    for name, req in _requirements().items():
        assert name in pins, f"constraints.txt does not pin {name}"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_the_installed_environment_is_the_pinned_one() -> None:
    for name, pinned in _pins().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # platform-specific extras
        assert Version(installed) == Version(pinned), (name, installed, pinned)


def test_scripts_install_from_the_constraints_and_audit() -> None:
    env = (ROOT / "scripts" / "_env.sh").read_text()
    assert '-c "$ROOT/constraints.txt"' in env and "constraints.txt" in env.split("stamp=")[1]
    assert "python scripts/audit.py" in (ROOT / "scripts" / "test").read_text()
