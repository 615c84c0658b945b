"""The public surface of ``import authgate`` (issue #11 §4), pinned: a change to it is a
deliberate change to this test."""

from __future__ import annotations

import subprocess
import sys

import authgate

PUBLIC = ["AuthError", "AuthGate", "Code", "Principal", "Settings", "__version__",
          "create_app", "current_user", "load_settings", "require"]


def test_all_is_exactly_the_public_surface() -> None:
    assert sorted(authgate.__all__) == sorted(PUBLIC)


def test_every_public_name_is_the_real_object() -> None:
    from authgate.app import AuthGate, create_app
    from authgate.config import Settings, load_settings
    from authgate.errors import AuthError, Code
    from authgate.http.deps import current_principal, require
    from authgate.sessions.service import Principal

    assert authgate.AuthGate is AuthGate and authgate.create_app is create_app
    assert authgate.Settings is Settings and authgate.load_settings is load_settings
    assert authgate.AuthError is AuthError and authgate.Code is Code
    assert authgate.Principal is Principal and authgate.require is require
    assert authgate.current_user is current_principal is AuthGate.current_user
    assert isinstance(authgate.__version__, str)
    assert set(PUBLIC) <= set(dir(authgate))


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        authgate.nothing_here  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as err:
        assert "nothing_here" in str(err)
    else:
        raise AssertionError("no AttributeError")


def test_importing_the_package_loads_no_feature() -> None:
    """``import authgate`` (which every submodule import runs first) stays cheap."""
    probe = ("import sys, authgate; "
             "print(sorted(m for m in sys.modules if m.startswith('authgate.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
