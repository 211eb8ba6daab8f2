"""Error text on the az path is what az users paste into searches: no behaviour-catalogue ids ("(K5)",
"(D7)", "(K8, V8)") and no "seed 001's table". The engine (and so the console) keeps them."""

from __future__ import annotations

import re

import pytest

from .test_cli_ids import az

CATALOGUE = re.compile(r"\((?:[A-Z]{1,2}\d{1,2}(?:, )?)+\)|seed \d{3}")


def _clean(stderr: str) -> None:
    assert stderr.startswith("ERROR: ")
    assert not CATALOGUE.search(stderr), stderr


def test_refusals_print_no_catalogue_ids(cli, landscape, cmklab_bin):
    r = az(cmklab_bin, cli, "disk-encryption-set", "delete", "-g", "rg1", "-n", "des1")
    assert r.returncode == 1 and "(DiskEncryptionSetInUse)" in r.stderr
    assert "it cannot be deleted\nCode: DiskEncryptionSetInUse\n" in r.stderr
    _clean(r.stderr)
    r = az(cmklab_bin, cli, "disk", "update", "-g", "rg1", "-n", "vm1-os", "--encryption-type",
           "EncryptionAtRestWithPlatformKey")
    assert r.returncode == 1 and "cannot go back to platform keys" in r.stderr
    _clean(r.stderr)
    r = az(cmklab_bin, cli, "vm", "create", "-g", "rg1", "-n", "vm2", "--image", "Ubuntu2204", "--size",
           "Standard_A2_v2", "--encryption-at-host", "true")
    assert r.returncode == 1 and "does not support encryption at host; choose e.g." in r.stderr
    _clean(r.stderr)
    r = az(cmklab_bin, cli, "disk", "create", "-g", "rg1", "-n", "d2", "--size-gb", "4", "--disk-encryption-set",
           "des1", "--encryption-type", "EncryptionAtRestWithPlatformAndCustomerKeys")
    assert r.returncode == 1 and "the set decides the type. To encrypt with both" in r.stderr
    _clean(r.stderr)


def test_the_engine_keeps_them_for_the_console(cli, landscape):
    from engine.errors import EngineError

    with pytest.raises(EngineError) as info:
        cli.engine().delete_des("des1", "rg1")
    assert "(D7)" in info.value.message


def test_az_text_removes_only_catalogue_groups():
    from console.cli.errors import az_text

    assert az_text("deallocate it first (az vm deallocate -g rg -n vm) (K5)") == \
        "deallocate it first (az vm deallocate -g rg -n vm)"
    assert az_text("no ADE (K8, V8); see (seed 001, V6).") == "no ADE; see."
    assert az_text("size X (seed 001's table); choose") == "size X; choose"
    assert az_text("disk 'd (1)' (V2) ok (V2x)") == "disk 'd (1)' ok (V2x)"


def test_the_engine_error_carries_its_behaviours_apart_from_azures_text():
    from engine.errors import BadRequest

    err = BadRequest("disk 'd' is attached to a running VM; deallocate it first (az vm deallocate -g rg -n vm) (K5)")
    assert err.behaviour == ("K5",)
    assert err.plain_message == "disk 'd' is attached to a running VM; deallocate it first (az vm deallocate -g rg -n vm)"
    both = BadRequest("no ADE (K8, V8); size X (seed 001's table)")
    assert both.behaviour == ("K8", "V8", "seed 001's table") and both.plain_message == "no ADE; size X"
    assert BadRequest("plain").behaviour == ()
