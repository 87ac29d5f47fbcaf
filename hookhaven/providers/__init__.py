"""Named providers' verifiers beyond the built-in kinds (``hookhaven.catalog`` lists them all).

``schemes`` verifies the HMAC variations from data; a module per family holds the code a
scheme needs beyond that (a handshake, a signed URL, a public key).
"""
