"""Manifest signatures: Ed25519 over the exact bytes of the manifest.

The server's private key is derived from the platform secret (core.security, purpose
"terminal-manifest"), so every web node signs with the same key and nothing extra is stored; the
public key is handed to an agent when it enrols and is published at /api/terminal/key. An
envelope carries the manifest's JSON bytes base64-encoded next to the signature, so the agent
verifies the very bytes that were signed before it parses a single field.
"""

import base64
import binascii
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.i18n import N_
from core.security import signing_key
from terminals.sync.errors import ManifestRejected

ALGORITHM = "ed25519"


def private_key() -> Ed25519PrivateKey:
    """The server's manifest key, the same on every node that shares the secret."""
    return Ed25519PrivateKey.from_private_bytes(signing_key("terminal-manifest"))


def public_key_bytes(key: Ed25519PrivateKey | None = None) -> bytes:
    """The raw 32-byte public key of the manifest key."""
    return (key or private_key()).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: bytes) -> str:
    """A short name of a public key (first 16 hex digits of its SHA-256), to tell keys apart."""
    return hashlib.sha256(public).hexdigest()[:16]


def sign_payload(payload: dict[str, Any], key: Ed25519PrivateKey | None = None) -> dict[str, str]:
    """The envelope of `payload`: its JSON bytes and their signature, both base64."""
    signer = key or private_key()
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(public_key_bytes(signer)),
        "payload": base64.b64encode(data).decode(),
        "signature": base64.b64encode(signer.sign(data)).decode(),
    }


def open_envelope(envelope: object, public_key: bytes) -> dict[str, Any]:
    """The payload of an envelope signed by `public_key`; ManifestRejected when the envelope is
    malformed, signed with another key or algorithm, or the signature does not match."""
    if not isinstance(envelope, dict):
        raise ManifestRejected(N_("The manifest is not a signed envelope."))
    if envelope.get("algorithm") != ALGORITHM:
        raise ManifestRejected(N_("The manifest is not signed with Ed25519."))
    try:
        data = base64.b64decode(str(envelope["payload"]), validate=True)
        signature = base64.b64decode(str(envelope["signature"]), validate=True)
    except (KeyError, binascii.Error) as exc:
        raise ManifestRejected(N_("The manifest envelope is malformed.")) from exc
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError) as exc:
        raise ManifestRejected(
            N_("The manifest's signature does not match the server key pinned at enrolment.")
        ) from exc
    payload = json.loads(data)
    if not isinstance(payload, dict):
        raise ManifestRejected(N_("The manifest envelope is malformed."))
    return payload
