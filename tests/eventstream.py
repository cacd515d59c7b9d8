"""AWS event-stream frames, built as Bedrock's ConverseStream sends them.

Each message is a prelude (total and headers length, with its CRC32), string
headers, a JSON payload and a CRC32 of the whole message, all big-endian; the
gateway decodes them with botocore, so a wrong checksum here fails loudly.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import orjson


def frame(headers: dict[str, str], payload: Any) -> bytes:
    """One event-stream message, framed as AWS does (string headers only)."""
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack(">B", len(raw_name)) + raw_name + b"\x07"
        encoded += struct.pack(">H", len(raw_value)) + raw_value
    body = orjson.dumps(payload)
    prelude = struct.pack(">II", 12 + len(encoded) + len(body) + 4, len(encoded))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + body
    return message + struct.pack(">I", zlib.crc32(message))


def event(name: str, payload: Any) -> bytes:
    return frame({":message-type": "event", ":event-type": name,
                  ":content-type": "application/json"}, payload)


def exception(name: str, message: str) -> bytes:
    return frame({":message-type": "exception", ":exception-type": name,
                  ":content-type": "application/json"}, {"message": message})
