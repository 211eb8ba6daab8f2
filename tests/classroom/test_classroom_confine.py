"""A classroom console names files only inside its trainee's ``files`` directory (console/confine.py):
a browser console runs as the trainer's user, so a typed path must not reach another home or the
classroom's tokens."""

from __future__ import annotations

import os

import pytest

from console.confine import ENV, user_path


@pytest.fixture
def confined(tmp_path, monkeypatch):
    root = tmp_path / "room" / "homes" / "ada" / "files"
    root.mkdir(parents=True)
    monkeypatch.setenv(ENV, str(root))
    return root


def test_paths_are_used_as_typed_outside_a_classroom(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert user_path(str(tmp_path / "x.sh")) == str(tmp_path / "x.sh")
    assert user_path("~/x.pem") == os.path.expanduser("~/x.pem")


def test_in_a_classroom_a_name_lands_in_the_trainees_files_and_nothing_leads_out(confined, tmp_path):
    assert user_path("session.sh") == str(confined / "session.sh")
    assert user_path(str(confined / "sub" / "a.pem")) == str(confined / "sub" / "a.pem")
    (confined / "link").symlink_to(tmp_path / "room")
    for escape in ("../../linus/db/changes.log", str(tmp_path / "room" / "classroom.json"), "/etc/passwd",
                   "~/.bashrc", "link/classroom.json"):
        with pytest.raises(ValueError, match="files are kept in this lab's files directory") as refused:
            user_path(escape)
        assert str(confined) not in str(refused.value)  # the trainer's paths are not the trainee's to see


def test_the_console_forms_refuse_a_path_out_of_the_trainees_files(confined, tmp_path):
    from console.actions import _pem_check, form_export
    from engine import Engine

    secret = tmp_path / "room" / "classroom.json"
    secret.write_text("{}")
    assert "not allowed here" in _pem_check(str(secret), {})
    assert _pem_check(str(confined / "missing.pem"), {}) == "no such file: missing.pem"
    assert _pem_check("sub/missing.pem", {}) == "no such file: sub/missing.pem"
    spec = form_export(Engine.in_memory(seed=1), None, None)
    [field] = spec.fields
    assert field.value == "cmklab-session.sh"  # in the trainee's files, without the server's path
    assert field.check(field.value, {}) is None
    assert user_path(field.value) == str(confined / "cmklab-session.sh")
    assert "not allowed here" in field.check(str(tmp_path / "room" / "homes" / "linus" / "x.sh"), {})
