"""Reading the media parts of OpenAI messages: data URLs and remote URLs.

Images, files and audio arrive as ``data:<mime>[;param=value];base64,<data>``
URLs or, for images, as remote URLs that only some providers fetch themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app import errors
from app.providers.base import Call

_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)(?:;[\w.+-]+=[\w.+-]+)*;base64,(.*)",
                       re.DOTALL)


@dataclass(frozen=True)
class Inline:
    """Base64 bytes sent in the request itself."""

    mime: str
    data: str


def data_url(url: str) -> Inline | None:
    """The MIME type and base64 payload of a ``data:`` URL, or None."""
    match = _DATA_URL.fullmatch(url)
    if match is None:
        return None
    return Inline(match.group(1).lower(), match.group(2))


def image_url(part: Mapping[str, Any]) -> str:
    """The URL of an ``image_url`` part, in either of its two OpenAI forms."""
    value = part.get("image_url")
    url = value.get("url") if isinstance(value, Mapping) else value
    if not isinstance(url, str) or not url:
        raise errors.InvalidRequest("An image_url part needs a url.",
                                    param="messages")
    return url


def file_data(part: Mapping[str, Any]) -> Inline:
    """The inline payload of a ``file`` part; uploaded file ids are OpenAI's."""
    value = part.get("file")
    data = value.get("file_data") if isinstance(value, Mapping) else None
    inline = data_url(data) if isinstance(data, str) else None
    if inline is None:
        raise errors.InvalidRequest(
            "A file part must carry its content as file_data in a base64 data "
            "URL; file ids refer to OpenAI's file store.", param="messages")
    return inline


def audio_data(part: Mapping[str, Any]) -> Inline:
    """The payload of an ``input_audio`` part with its MIME type."""
    value = part.get("input_audio")
    data = value.get("data") if isinstance(value, Mapping) else None
    fmt = value.get("format") if isinstance(value, Mapping) else None
    if not isinstance(data, str) or not isinstance(fmt, str):
        raise errors.InvalidRequest("An input_audio part needs data and format.",
                                    param="messages")
    return Inline(f"audio/{fmt.lower()}", data)


def inline_image(call: Call, part: Mapping[str, Any]) -> Inline:
    """The payload of an image part that must travel inline.

    Adapters do no I/O of their own, so an image given by http(s) URL is
    refused rather than downloaded.
    """
    inline = data_url(image_url(part))
    if inline is None:
        raise errors.InvalidRequest(
            f"Provider '{call.provider}' takes images only inline as base64 data "
            "URLs (data:image/png;base64,...).", param="messages")
    return inline
