"""``cmklab endpoint``: the real Azure clients (the Azure SDK for Python, the ``az`` CLI) against cmklab.

An HTTPS proxy on 127.0.0.1 serves Azure Resource Manager, Key Vault's data plane for keys and the
identity endpoint from the engine on the home (see server.py, arm.py, vault.py, identity.py, pki.py).
No textual here: the endpoint runs headless beside a console open on the same home.
"""

from .server import Endpoint

__all__ = ["Endpoint"]
