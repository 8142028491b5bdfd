"""Downloads each URL given (URL, SHA-256 pairs) into the working directory, and fails on a
file whose SHA-256 differs. Used by images/spark/Dockerfile (Dockerfile ADD --checksum is
BuildKit's alone)."""

import hashlib
import os
import sys
import urllib.request

args = sys.argv[1:]
for url, expected in zip(args[::2], args[1::2], strict=True):
    if not url.startswith("https://"):
        sys.exit(f"{url}: only https:// URLs")
    name = os.path.basename(url)
    digest = hashlib.sha256()
    response = urllib.request.urlopen(url, timeout=120)  # noqa: S310 (https only)
    with response, open(name + ".part", "wb") as out:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != expected:
        sys.exit(f"{url}: sha256 {digest.hexdigest()}, expected {expected}")
    os.chmod(name + ".part", 0o644)
    os.rename(name + ".part", name)
