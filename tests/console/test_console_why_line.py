"""The console shows a refusal in Azure's words, and the behaviours it rests on on a "why" line of their own."""

from __future__ import annotations

from console.messages import ActionFailed
from engine.errors import BadRequest


def test_a_refusal_shows_azures_text_and_a_why_line():
    err = BadRequest("disk 'd1' is attached to running VM 'vm1'; deallocate it first (K5)", code="OperationNotAllowed")
    failed = ActionFailed(label="encrypt disk", method="update_disk", error=err, seq=1)
    assert failed.text == "disk 'd1' is attached to running VM 'vm1'; deallocate it first"
    assert failed.why == "why: K5 (docs/behaviours.md)"
    plain = ActionFailed(label="x", method="y", error=BadRequest("nothing to cite"), seq=2)
    assert plain.why is None and plain.text == "nothing to cite"
