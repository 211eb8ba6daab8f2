"""Package data: ``seeded_keys.json``, the public pool of RSA keys that seeded (reproducible) stores draw from."""
