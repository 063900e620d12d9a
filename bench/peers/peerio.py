"""Shared output helper of the peer scripts in this folder."""
import json
import os


def write_json(path, doc):
    """Write `doc` as JSON to `path` atomically (temporary file + rename); returns the absolute path."""
    out = os.path.abspath(path)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1, allow_nan=False)
        fh.write("\n")
    os.replace(tmp, out)
    return out
