#!/usr/bin/env python3
"""Recompute miaopi's audit-ledger hashes outside PostgreSQL.

Reads JSON objects, one per line, on standard input (test/scripts/ledger.sh
shows the psql query that writes them): {"type": "application", ...},
{"type": "event", ...} and {"type": "block", ..., "leaves": [...]}, every
value as the text psql gives (timestamps already in microseconds since
1970-01-01 UTC).  Recomputes each application's hash (of the row as it
stands, against the state its newest event recorded, or against
application.hash when it has none), each event's chained hash and each
block's Merkle root (RFC 9162) and hash, from the canonical forms of README
"Audit ledger", and compares them with the stored ones.
Prints one line per mismatch and a summary; exits 1 on any mismatch.
"""
import hashlib
import json
import struct
import sys

NULL = b"\xff\xff\xff\xff"


def field(b):
    """A field: 4-byte big-endian length and the bytes; NULL has no bytes."""
    return NULL if b is None else struct.pack(">I", len(b)) + b


def text(s):
    return field(None if s is None else s.encode("utf-8"))


def raw(hexstr):
    return field(None if hexstr is None else bytes.fromhex(hexstr))


def text_array(items):
    if items is None:
        return NULL
    inner = struct.pack(">I", len(items)) + b"".join(text(i) for i in items)
    return field(inner)


APP_FIELDS = ["id", "service_code", "applicant_id", "applicant_name", "payload", "materials",
              "channel", "submitted_at", "status", "decision", "decided_at", "decided_by",
              "ruleset_id", "reasons", "accepted_at", "promised_due", "statutory_due",
              "closed_at", "step_due", "paused_at", "paused_days", "clock_flags"]

EVENT_FIELDS = ["application_id", "at", "action", "actor", "session_actor", "from_status",
                "to_status", "comment", "detail"]


def application_hash(r):
    out = text("miaopi.application.v1")
    for f in APP_FIELDS:
        out += text_array(r[f]) if f == "materials" else text(r[f])
    return hashlib.sha256(out).hexdigest()


def event_hash(r):
    out = text("miaopi.event.v1")
    for f in EVENT_FIELDS:
        out += text(r[f])
    out += raw(r["state"])
    prev = bytes.fromhex(r["prev_hash"]) if r["prev_hash"] else b""
    return hashlib.sha256(prev + out).hexdigest()


def leaf(kind, row_id, hexhash):
    return hashlib.sha256(b"\x00" + text(kind) + text(str(row_id)) + raw(hexhash)).digest()


def merkle(leaves):
    """RFC 9162 MTH: split at the largest power of two below n."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + merkle(leaves[:k]) + merkle(leaves[k:])).digest()


def block_check(r):
    leaves = [leaf(e["kind"], e["row_id"], e["hash"]) for e in r["leaves"]]
    root = merkle(leaves).hex()
    out = (text("miaopi.block.v1") + text(r["id"]) + text(r["sealed_at"]) + text(r["entries"])
           + raw(root) + raw(r["prev_hash"]))
    return root, hashlib.sha256(out).hexdigest()


def main():
    counts = {"application": 0, "event": 0, "block": 0}
    bad = 0
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        t = r["type"]
        counts[t] += 1
        if t == "application":
            # the row as it stands hashes to the state its newest event
            # recorded, or to its own hash when it has no events
            want = r.get("newest_state") or r["hash"]
            got = application_hash(r)
            if got != want:
                print("mismatch: application %s: recorded %s, recomputed %s" % (r["id"], want, got))
                bad += 1
        elif t == "event":
            got = event_hash(r)
            if got != r["hash"]:
                print("mismatch: event %s: stored %s, recomputed %s" % (r["id"], r["hash"], got))
                bad += 1
        else:
            root, got = block_check(r)
            if root != r["root"] or got != r["hash"]:
                print("mismatch: block %s: root %s/%s, hash %s/%s" % (r["id"], r["root"], root, r["hash"], got))
                bad += 1
    print("recomputed %d applications, %d events, %d blocks: %d mismatches"
          % (counts["application"], counts["event"], counts["block"], bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
