"""az's generic update arguments (``--set``, ``--add``, ``--remove``, ``--force-string``) on ``disk update``,
``disk-encryption-set update``, ``keyvault update`` and ``vm update``: applied to the resource's JSON with az's
path rules, then every change must be a property the engine models (or it is refused and nothing is written)."""

from __future__ import annotations

import json
import subprocess


def test_set_changes_a_disk_size_and_tags_as_the_json_path_says(cli, rg):
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "-o", "none")
    out = cli.ok("disk", "update", "-g", rg, "-n", "d1", "--set", "diskSizeGB=8", "tags.env=dev").json
    assert out["diskSizeGB"] == 8 and out["tags"] == {"env": "dev"}
    assert cli.ok("disk", "update", "-g", rg, "-n", "d1", "--remove", "tags.env").json["tags"] == {}


def test_a_path_that_is_not_there_is_azs_message_and_changes_nothing(cli, rg):
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "-o", "none")
    before = cli.state_bytes()
    r = cli.az("disk", "update", "-g", rg, "-n", "d1", "--set", "nope.deeper=1")
    assert r.code == 1 and "Couldn't find 'nope' in ''. Available options: [" in r.err and "'diskSizeGB'" in r.err
    assert cli.state_bytes() == before


def test_a_property_the_engine_does_not_model_is_refused_naming_what_can_change(cli, rg):
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "-o", "none")
    before = cli.state_bytes()
    r = cli.az("disk", "update", "-g", rg, "-n", "d1", "--set", "location=westus", "diskSizeGB=8")
    assert r.code == 1 and "cannot change 'location'" in r.err and "diskSizeGB" in r.err
    assert cli.state_bytes() == before  # the size change given with it is not made either


def test_force_string_keeps_a_value_a_string_and_the_type_is_checked(cli, rg):
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "-o", "none")
    r = cli.az("disk", "update", "-g", rg, "-n", "d1", "--set", "diskSizeGB=16", "--force-string")
    assert r.code == 1 and "'diskSizeGB'" in r.err and "whole number" in r.err
    r = cli.ok("disk", "update", "-g", rg, "-n", "d1", "--set", "tags.n=5", "--force-string")
    assert r.json["tags"] == {"n": "5"}


def test_set_on_a_set_turns_on_automatic_rotation(cli, landscape):
    out = cli.ok("disk-encryption-set", "update", "-g", landscape["rg"], "-n", "des1", "--set",
                 "rotationToLatestKeyVersionEnabled=true").json
    assert out["rotationToLatestKeyVersionEnabled"] is True


def test_vault_generic_update_and_a_refused_property(cli, rg):
    cli.ok("keyvault", "create", "-n", "kvg", "-g", rg, "-o", "none")
    assert cli.tsv("keyvault", "update", "-n", "kvg", "--set", "properties.enablePurgeProtection=true",
                   "--query", "properties.enablePurgeProtection") == "true"
    r = cli.az("keyvault", "update", "-n", "kvg", "--set", "properties.softDeleteRetentionInDays=30")
    assert r.code == 1 and "set at creation" in r.err  # the engine's rule, reached through the generic update
    r = cli.az("keyvault", "update", "-n", "kvg", "--set", "properties.tenantId=00000000-0000-0000-0000-000000000001")
    assert r.code == 1 and "cannot change 'properties.tenantId'" in r.err
    assert cli.tsv("keyvault", "update", "-n", "kvg", "--set", "properties.publicNetworkAccess=Disabled", "--query",
                   "properties.publicNetworkAccess") == "Disabled"  # a stored property (console/cli/props.py)


def test_add_appends_to_a_list_and_remove_drops_an_item(cli, rg):
    """--add and --remove act on lists; a list the engine does not model (access policies go through set-policy)
    is refused after az's rules placed the value."""
    cli.ok("keyvault", "create", "-n", "kva", "-g", rg, "-o", "none")
    r = cli.az("keyvault", "update", "-n", "kva", "--add", "properties.accessPolicies", "objectId=abc", "tenantId=t")
    assert r.code == 1 and "cannot change 'properties.accessPolicies" in r.err
    r = cli.az("keyvault", "update", "-n", "kva", "--remove", "properties.accessPolicies", "5")
    assert r.code == 1 and "index 5 doesn't exist on accessPolicies" in r.err


def test_vm_update_set_through_the_installed_cmklab(cli, rg, cmklab_bin, cmklab_env):
    env = dict(cmklab_env, CMKLAB_HOME=str(cli.home))
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "-o", "none")
    cli.ok("vm", "deallocate", "-g", rg, "-n", "vm1")
    run = subprocess.run([str(cmklab_bin), "az", "vm", "update", "-g", rg, "-n", "vm1", "--set",
                          "securityProfile.encryptionAtHost=true", "hardwareProfile.vmSize=Standard_D4s_v3",
                          "--query", "[securityProfile.encryptionAtHost, hardwareProfile.vmSize]", "-o", "tsv"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["true", "Standard_D4s_v3"]


def test_disk_update_set_on_tags_answers_as_az_s_aaz_update_does(cli, rg):
    """``az disk update`` is an AAZ command in az 2.91: a generic update goes to its typed instance, tags a dict of
    strings. What the real az 2.91 answered through ``cmklab endpoint`` (one disk, these commands in turn): ``--set
    tags.a=1`` is JSON 1, AAZ's ``Expect <class 'str'>, got 1 (<class 'int'>)`` (exit 1, nothing written); a string,
    or ``--force-string``, sets the tag; ``tags.a=null`` removes it; ``--remove`` of a tag that is not there does
    nothing; ``--add`` to the tags is AAZ's ``invalid syntax``."""
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "-z", "4", "-o", "none")
    before = cli.state_bytes()
    r = cli.az("disk", "update", "-g", rg, "-n", "d1", "--set", "tags.a=1")
    assert (r.code, r.out, r.err) == (1, "", "ERROR: Expect <class 'str'>, got 1 (<class 'int'>)\n")
    r = cli.az("disk", "update", "-g", rg, "-n", "d1", "--set", "tags.c=true")
    assert (r.code, r.err) == (1, "ERROR: Expect <class 'str'>, got True (<class 'bool'>)\n")
    assert cli.state_bytes() == before
    assert cli.ok("disk", "update", "-g", rg, "-n", "d1", "--set", "tags.a=x").json["tags"] == {"a": "x"}
    assert cli.ok("disk", "update", "-g", rg, "-n", "d1", "--set", "tags.b=1",
                  "--force-string").json["tags"] == {"a": "x", "b": "1"}
    assert cli.ok("disk", "update", "-g", rg, "-n", "d1", "--set", "tags.a=null").json["tags"] == {"b": "1"}
    assert cli.ok("disk", "update", "-g", rg, "-n", "d1", "--remove", "tags.b").json["tags"] == {}
    assert cli.ok("disk", "update", "-g", rg, "-n", "d1", "--remove", "tags.zz").json["tags"] == {}
    r = cli.az("disk", "update", "-g", rg, "-n", "d1", "--add", "tags", "q=1")
    assert (r.code, r.err) == (1, "ERROR: invalid syntax: `--add property.listProperty <key=value, string or JSON "
                                  "string>`\n")


def test_O8_vm_update_set_tags_adds_or_replaces_a_tag_as_az_does(cli, rg):
    """``az vm update`` has no ``--tags``: az 2.91 applies the generic update to the VM's JSON (az's SDK rules) and
    hands the result to the AAZ VM create, whose tags are a dict of strings. What the real az 2.91 sent and
    answered through ``cmklab endpoint``: ``tags.env=dev`` adds the tag, ``tags.a=null`` leaves it out, ``tags.n=1``
    is AAZ's ``Expect <class 'str'>, got 1 (<class 'int'>)`` (nothing sent), ``--remove`` of a tag that is not
    there is ``Couldn't find 'zz' in 'tags'``, ``--add tags`` is ``invalid syntax``."""
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "--tags", "a=b", "-o", "none")

    def tags(*argv):
        return cli.ok("vm", "update", "-g", rg, "-n", "vm1", *argv).json["tags"]

    assert tags("--set", "tags.env=dev") == {"a": "b", "env": "dev"}
    assert tags("--set", "tags.a=c") == {"a": "c", "env": "dev"}
    before = cli.state_bytes()
    r = cli.az("vm", "update", "-g", rg, "-n", "vm1", "--set", "tags.n=1")
    assert (r.code, r.out, r.err) == (1, "", "ERROR: Expect <class 'str'>, got 1 (<class 'int'>)\n")
    r = cli.az("vm", "update", "-g", rg, "-n", "vm1", "--remove", "tags.zz")
    assert (r.code, r.err) == (1, "ERROR: Couldn't find 'zz' in 'tags'. Available options: ['a', 'env']\n")
    r = cli.az("vm", "update", "-g", rg, "-n", "vm1", "--add", "tags", "q=1")
    assert (r.code, r.err) == (1, "ERROR: invalid syntax: `--add property.listProperty <key=value, string or JSON "
                                  "string>`\n")
    assert cli.state_bytes() == before
    assert tags("--set", "tags.n=1", "--force-string") == {"a": "c", "env": "dev", "n": "1"}
    assert tags("--set", "tags.a=null") == {"env": "dev", "n": "1"}
    assert tags("--remove", "tags.n") == {"env": "dev"}
    assert tags("--set", 'tags={"x": "y"}') == {"x": "y"}
    assert cli.ok("vm", "show", "-g", rg, "-n", "vm1").json["tags"] == {"x": "y"}
    assert tags("--remove", "tags") == {}


def test_O8_vm_update_tags_go_with_the_other_changes_or_not_at_all(cli, rg):
    """A tag and a modelled property in one update are one action; a refusal of either writes neither."""
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "-o", "none")
    before = cli.state_bytes()
    r = cli.az("vm", "update", "-g", rg, "-n", "vm1", "--set", "tags.env=dev", "securityProfile.encryptionAtHost=true")
    assert r.code == 1 and "must be deallocated" in r.err  # V6, the engine's rule
    r = cli.az("vm", "update", "-g", rg, "-n", "vm1", "--set", "tags.env=dev", "location=westus")
    assert r.code == 1 and "cannot change 'location'" in r.err and "tags, " in r.err  # names what can change
    assert cli.state_bytes() == before
    cli.ok("vm", "deallocate", "-g", rg, "-n", "vm1")
    out = cli.ok("vm", "update", "-g", rg, "-n", "vm1", "--set", "tags.env=dev",
                 "securityProfile.encryptionAtHost=true").json
    assert out["tags"] == {"env": "dev"} and out["securityProfile"]["encryptionAtHost"] is True


def test_O8_keyvault_update_set_tags_and_a_value_that_is_not_a_string(cli, rg):
    """``az keyvault update`` is an SDK generic update: az 2.91 sends what ``--set`` parsed as it is (``tags.n=1``
    as the number 1, ``tags.n=null`` as null, seen through ``cmklab endpoint``); Azure keeps tag values as strings,
    and cmklab refuses any other value naming the tag and how to give it, writing nothing."""
    cli.ok("keyvault", "create", "-n", "kvt", "-g", rg, "-o", "none")

    def tags(*argv):
        return cli.ok("keyvault", "update", "-n", "kvt", *argv).json["tags"]

    assert tags("--set", "tags.env=dev", "tags.team=ops") == {"env": "dev", "team": "ops"}
    assert cli.ok("keyvault", "show", "-n", "kvt").json["tags"] == {"env": "dev", "team": "ops"}
    before = cli.state_bytes()
    r = cli.az("keyvault", "update", "-n", "kvt", "--set", "tags.n=1")
    assert r.code == 1 and "tag 'n'" in r.err and "strings" in r.err and "--force-string" in r.err
    r = cli.az("keyvault", "update", "-n", "kvt", "--set", "tags.env=null")
    assert r.code == 1 and "--remove tags.env" in r.err
    r = cli.az("keyvault", "update", "-n", "kvt", "--remove", "tags.zz")
    assert (r.code, r.err) == (1, "ERROR: Couldn't find 'zz' in 'tags'. Available options: ['env', 'team']\n")
    assert cli.state_bytes() == before
    assert tags("--set", "tags.n=1", "--force-string") == {"env": "dev", "team": "ops", "n": "1"}
    assert tags("--remove", "tags.team", "--set", "properties.enablePurgeProtection=true") == {"env": "dev", "n": "1"}
    assert cli.ok("keyvault", "show", "-n", "kvt").json["properties"]["enablePurgeProtection"] is True


def test_O8_set_update_takes_tags_as_az_s_aaz_update_does(cli, landscape):
    """``az disk-encryption-set update`` is an AAZ command, as ``disk update``: the same reading of the tags."""
    rg = landscape["rg"]

    def tags(*argv):
        return cli.ok("disk-encryption-set", "update", "-g", rg, "-n", "des1", *argv).json["tags"]

    assert tags("--set", "tags.env=dev") == {"env": "dev"}
    r = cli.az("disk-encryption-set", "update", "-g", rg, "-n", "des1", "--set", "tags.n=1")
    assert (r.code, r.err) == (1, "ERROR: Expect <class 'str'>, got 1 (<class 'int'>)\n")
    assert tags("--remove", "tags.zz") == {"env": "dev"}  # AAZ: a tag that is not there is no error
    assert tags("--set", "tags.env=null") == {}


def test_O8_generic_tags_keep_azure_s_limits(cli, rg):
    """O4 holds for a tag set with ``--set`` as for ``--tags``: refused by the service (exit 1), nothing written."""
    cli.ok("keyvault", "create", "-n", "kvt", "-g", rg, "-o", "none")
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "-o", "none")
    before = cli.state_bytes()
    r = cli.az("keyvault", "update", "-n", "kvt", "--set", f"tags.{'k' * 513}=v")
    assert r.code == 1 and "InvalidTagNameLength" in r.err
    r = cli.az("vm", "update", "-g", rg, "-n", "vm1", "--set", f"tags.k={'v' * 257}")
    assert r.code == 1 and "InvalidTagValueLength" in r.err
    many = json.dumps({f"t{i}": "v" for i in range(51)})
    r = cli.az("vm", "update", "-g", rg, "-n", "vm1", "--set", f"tags={many}")
    assert r.code == 1 and "InvalidTagCount" in r.err
    assert cli.state_bytes() == before


def test_O8_each_set_add_and_remove_applies_in_the_order_given_as_az_does(cli, rg):
    """az keeps every ``--set``, ``--add`` and ``--remove`` and applies them in the order of the command line (its
    ``OrderedArgsAction``): two ``--set`` flags both count (cmklab kept the last), and a ``--remove`` before a
    ``--set`` of the same tag leaves it set."""
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "-z", "4", "-o", "none")
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "--tags", "a=b", "-o", "none")
    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "0", "-o", "none")
    assert cli.ok("disk", "update", "-g", rg, "-n", "d1", "--set", "tags.a=x", "--set", "tags.b=y").json["tags"] == {
        "a": "x", "b": "y"}
    assert cli.ok("vm", "update", "-g", rg, "-n", "vm1", "--remove", "tags.a", "--set", "tags.a=c").json["tags"] == {
        "a": "c"}
    assert cli.ok("vm", "update", "-g", rg, "-n", "vm1", "--set", "tags.d=e", "--remove", "tags.a").json["tags"] == {
        "d": "e"}
    assert cli.ok("vmss", "update", "-g", rg, "-n", "ss1", "--set", "tags.a=1x", "--set",
                  "tags.b=2x").json["tags"] == {"a": "1x", "b": "2x"}


def test_O8_vmss_update_removes_tags_in_the_order_given_and_refuses_other_paths(cli, rg):
    """``az vmss update`` takes ``--remove`` (and ``--add``, refused on a dict as az refuses it) on the tags, in
    the order given with ``--set``, as ``vm update`` does; on the model's other paths they are refused, naming what
    changes them, and nothing changes."""
    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "0",
           "--tags", "a=b", "-o", "none")
    assert cli.ok("vmss", "update", "-g", rg, "-n", "ss1", "--remove", "tags.a", "--set",
                  "tags.a=c").json["tags"] == {"a": "c"}
    assert cli.ok("vmss", "update", "-g", rg, "-n", "ss1", "--set", "tags.d=e", "--remove",
                  "tags.a").json["tags"] == {"d": "e"}
    r = cli.az("vmss", "update", "-g", rg, "-n", "ss1", "--set", "tags.f=g", "--remove", "virtualMachineProfile.x")
    assert r.code == 1 and "changes the tags (tags, tags.KEY)" in r.err and "virtualMachineProfile.x" in r.err
    r = cli.az("vmss", "update", "-g", rg, "-n", "ss1", "--add", "tags", "k=v")
    assert r.code == 1 and "invalid syntax" in r.err
    assert cli.ok("vmss", "show", "-g", rg, "-n", "ss1").json["tags"] == {"d": "e"}
