"""cmklab's own verbs, in az's style: the data plane (``vm write|read``), what is at rest (``disk inspect``),
the simulated clock (``clock show|advance``) and the audit trail (``audit``)."""

from __future__ import annotations

from engine.rules import MAX_LUN

from ..errors import CLIError
from ..spec import Arg, Call, command, enum, views

_IO_ARGS = [
    Arg(("--resource-group", "-g"), "resource_group", "Name of resource group.", required=True),
    Arg(("--name", "-n"), "name", "The name of the Virtual Machine.", required=True),
    Arg(("--lun",), "lun", "The data disk's LUN, or 'os' for the OS disk.", required=True),
    Arg(("--offset",), "offset", "Byte offset on the disk.", kind="int", required=True),
    Arg(("--hex",), "hex", "The data is hexadecimal (write: --data is hex; read: print hex).", kind="store_true"),
]


def _lun(text: str):
    if text.lower() == "os":
        return "os"
    try:
        return int(text)
    except ValueError:
        raise CLIError(f"--lun {text!r} is not valid; give 'os' or a data disk LUN (0-{MAX_LUN})") from None


def _write_call(ns, ctx) -> Call:
    if ns.hex:
        try:
            data = bytes.fromhex(ns.data)
        except ValueError:
            raise CLIError("--data is not hexadecimal (give pairs of hex digits, or omit --hex for text)") from None
    else:
        data = ns.data.encode("utf-8")
    if not data:
        raise CLIError("--data is empty; give at least one byte")
    return Call("vm_write", (ns.name, _lun(ns.lun), ns.offset, data), {"resource_group": ns.resource_group})


def _write_render(engine, n, ns):
    return {"vm": ns.name, "lun": _lun(ns.lun), "offset": ns.offset, "bytesWritten": n}


def _read_render(engine, data, ns):
    lun = _lun(ns.lun)
    if ns.hex:
        return {"vm": ns.name, "lun": lun, "offset": ns.offset, "length": len(data), "encoding": "hex",
                "data": data.hex()}
    return {"vm": ns.name, "lun": lun, "offset": ns.offset, "length": len(data), "encoding": "utf-8",
            "data": data.decode("utf-8", errors="replace")}


def _data_words(data, w) -> dict:
    """Bytes as text when they are UTF-8, else as hex with ``--hex``."""
    try:
        return {"data": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"data": data.hex(), "hex": True}


def _duration_words(delta, w) -> dict:
    if not isinstance(delta, str):
        from engine.clock import format_duration

        delta = format_duration(delta).replace(" ", "")
    return {"duration": delta}


_IO_PARAMS = {"vm_name": "name", "lun": lambda v, w: {"lun": str(v)},
              "resource_group": lambda v, w: {"resource_group": v or w.group_of("get_vm", w.p["vm_name"])}}
_WRITE_PARAMS = {**_IO_PARAMS, "data": _data_words}


command("cmklab vm write", "Write bytes to a VM's disk as the guest would (durable when it returns).", [
    *_IO_ARGS, Arg(("--data",), "data", "The bytes to write: text (UTF-8), or hex with --hex.", required=True),
], call=_write_call, render=_write_render, method="vm_write", params=_WRITE_PARAMS,
    long_summary="The VM must be running; its host holds the disk's data keys. What is stored is ciphertext "
                 "(see cmklab disk inspect).",
    examples=[("Write a line at the start of data disk 0.",
               "cmklab vm write -g MyResourceGroup -n MyVm --lun 0 --offset 0 --data 'hello'")])

command("cmklab vm read", "Read bytes from a VM's disk as the guest would.", [
    *_IO_ARGS, Arg(("--length",), "length", "How many bytes to read.", kind="int", required=True),
], call=lambda ns, ctx: Call("vm_read", (ns.name, _lun(ns.lun), ns.offset, ns.length),
                             {"resource_group": ns.resource_group}),
    render=_read_render, method="vm_read", params=_IO_PARAMS,
    examples=[("Read back what was written.",
               "cmklab vm read -g MyResourceGroup -n MyVm --lun 0 --offset 0 --length 5 --query data -o tsv")])

_GETTERS = {"disk": "get_disk", "snapshot": "get_snapshot", "image": "get_image"}

command("cmklab disk inspect", "What is at rest: ciphertext, wrapped data keys, the key versions that wrap them.", [
    Arg(("--resource-group", "-g"), "resource_group", "Name of resource group.", required=True),
    Arg(("--name", "-n"), "name", "The name of the disk (or snapshot or image, with --type).", required=True),
    enum(("--type",), "type", "What to inspect.", ("disk", "snapshot", "image"), help_default="disk"),
], call=lambda ns, ctx: Call(_GETTERS[ns.type or "disk"], (ns.name, ns.resource_group)),
    render=lambda e, r, ns: views.inspect_resource(e, r),
    long_summary="Each layer of envelope encryption with the key version that wraps its data key and a "
                 "fingerprint of the wrapped data key, and a sample of the stored ciphertext. Never a plaintext "
                 "key.",
    examples=[("See which key version wraps a disk's data key.",
               "cmklab disk inspect -g MyResourceGroup -n MyDisk --query \"layers[].keyUrl\"")])

command("cmklab clock show", "The simulated time, the rule profile and the jobs due within 400 days.", [],
        run=lambda ctx, ns: views.clock_view(ctx.engine),
        examples=[("Show the clock.", "cmklab clock show")])


def _advance_render(engine, ran, ns):
    return {"now": engine.now(), "advancedBy": ns.duration, "jobsRan": ran}


command("cmklab clock advance", "Move the simulated clock forward; due jobs run as it passes them.", [
    Arg((), "duration", "How far: 30m, 1h, 8d, 2w, or ISO 8601 (P90D, PT1H).", metavar="DURATION"),
], call=lambda ns, ctx: Call("advance_clock", (ns.duration,)), render=_advance_render, method="advance_clock", params={"delta": _duration_words},
    long_summary="Rotation policies, automatic rotation of disk encryption sets (within an hour of a new key "
                 "version), key expiry and the purge of deleted keys and vaults at the end of retention.",
    examples=[("Let a week pass.", "cmklab clock advance 7d")])

command("cmklab clock run-due", "Run the jobs that are due now, without moving the clock.", [],
        call=lambda ns, ctx: Call("run_due_jobs"), render=lambda e, ran, ns: {"now": e.now(), "jobsRan": ran},
        method="run_due_jobs",
        long_summary="What a store left due (a re-key interrupted by a crash, a clock set back by hand) runs now.",
        examples=[("Run what is due.", "cmklab clock run-due")])

command("cmklab audit", "The audit trail of key operations (KV8), oldest first.", [
    Arg(("--vault-name",), "vault_name", "Only this vault's operations."),
    Arg(("--key",), "key", "Only this key's operations (a name or a key URL)."),
    Arg(("--identity",), "identity", "Only operations by this caller (an object id, e.g. a set's principalId)."),
], run=lambda ctx, ns: views.audit_entries(ctx.engine, vault=ns.vault_name, key=ns.key, identity=ns.identity),
    examples=[("What a disk encryption set's identity did.", "cmklab audit --identity {principalId} -o table")])


def _rules_show(ctx, ns):
    from engine.rules import rules_table

    from collections import OrderedDict

    if not getattr(ns, "output_given", True):
        ns.output = "table"  # a table unless -o says otherwise
    return [OrderedDict(row) for row in rules_table(ns.profile, every=ns.every)]


command("cmklab rules show", "The rules that differ between the profiles, as a table, with the document (and its "
        "date) each follows.", [
    enum(("--profile",), "profile", "Cite the documents this profile follows (default: azure-2025).",
         ("azure-2025", "seeds")),
    Arg(("--all",), "every", "Also list the rules the profiles share.", kind="store_true"),
], run=_rules_show, table=lambda rows: rows,  # the columns in the rows' order
    long_summary="A home keeps the profile it was created with (cmklab --profile NAME on a new home; the console's "
                 "header names it). seeds: the 2020-21 documents' rules; azure-2025: today's Azure, each rule "
                 "with the date of the page it follows.",
    examples=[("What changes between the documents and today's Azure.", "cmklab rules show"),
              ("Every rule of the seeds profile and the document it comes from.",
               "cmklab rules show --profile seeds --all")])
