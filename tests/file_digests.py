"""What a directory holds, byte for byte: for tests that a failure changed nothing on disk."""

import hashlib
import os


def file_digests(directory) -> dict[str, str]:
    """`{file name: SHA-256}` of the files directly in `directory` (subdirectories left out)."""
    return {
        name: hashlib.sha256(open(os.path.join(directory, name), "rb").read()).hexdigest()
        for name in sorted(os.listdir(directory))
        if os.path.isfile(os.path.join(directory, name))
    }
