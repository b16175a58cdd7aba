"""S3 enforcement gateway: S3 REST in, SigV4 verified, IAM decided, forwarded re-signed to a real store.

Pure parts (no I/O): :mod:`.model` (addressing), :mod:`.classify` (operation → IAM action, resource,
condition keys), :mod:`.sigv4` (canonical requests, verification, backend signing), :mod:`.chunked`
and :mod:`.payload` (aws-chunked decoding, body hashes and checksums), :mod:`.errors` and
:mod:`.xml` (wire formats). I/O at the edge: :mod:`.proxy` (aiohttp handler) and :mod:`.backends`
(aiohttp client toward the stores). Collaborators come in through :mod:`.ports`.
"""
