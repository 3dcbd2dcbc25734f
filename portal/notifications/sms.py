"""SMS text rules: GSM-7 versus UCS-2 segment counting, shortening, and the sender signature.

A message made only of GSM-7 characters fits 160 septets in one SMS and 153 per segment
when split; an extension character (``^{}\\[~]|€`` and form feed) takes two septets and is
never split across segments. Any other character (all Chinese text) makes the message
UCS-2: 70 UTF-16 code units in one SMS, 67 per segment, and a surrogate pair (an emoji) is
never split either. Mainland China requires a registered 【signature】 at the start.
"""

from __future__ import annotations

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_BODY_CHARS = 1600  # Twilio's limit on a message body


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the GSM-7 basic or extension table."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _weights(text: str) -> tuple[list[int], int, int]:
    """Return per-character weights and the single/part segment capacities."""
    if is_gsm7(text):
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text], GSM7_SINGLE, GSM7_PART
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text], UCS2_SINGLE, UCS2_PART


def units(text: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) that ``text`` takes."""
    weights, _single, _part = _weights(text)
    return sum(weights)


def segments(text: str) -> int:
    """Number of SMS segments ``text`` is sent as (an empty message still costs one)."""
    weights, single, part = _weights(text)
    if sum(weights) <= single:
        return 1
    count, used = 1, 0
    for weight in weights:
        if used + weight > part:  # an escape pair or surrogate pair never straddles
            count += 1
            used = 0
        used += weight
    return count


def fit(text: str, max_segments: int, suffix: str = "") -> str:
    """Return ``text + suffix`` unchanged when it fits ``max_segments``, else the longest
    prefix of ``text`` that fits with an ellipsis ("..." for GSM-7 text, "…" otherwise)
    and ``suffix`` (e.g. "reply TD to unsubscribe") kept whole after it."""
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")

    def fits(value: str) -> bool:
        return len(value) <= MAX_BODY_CHARS and segments(value) <= max_segments

    if fits(text + suffix):
        return text + suffix
    ellipsis = "..." if is_gsm7(text + suffix) else "…"

    def candidate(length: int) -> str:
        return text[:length].rstrip() + ellipsis + suffix

    low, high = 0, len(text) - 1  # the longest length whose candidate fits
    while low < high:
        middle = (low + high + 1) // 2
        if fits(candidate(middle)):
            low = middle
        else:
            high = middle - 1
    return candidate(low)


def needs_signature(phone: str) -> bool:
    """True for mainland China numbers (E.164 ``+86``), which must carry a signature."""
    return phone.startswith("+86")


def with_signature(text: str, phone: str, signature: str) -> str:
    """Prepend the registered signature (e.g. 【速递】) for +86 numbers, once."""
    if signature and needs_signature(phone) and not text.startswith(signature):
        return signature + text
    return text


def prepare(text: str, phone: str, signature: str, max_segments: int, suffix: str = "") -> str:
    """The final body: signature for +86, then shortened to ``max_segments`` keeping
    ``suffix`` whole (when even the suffix does not fit, it is shortened too)."""
    body = with_signature(text.strip(), phone, signature)
    result = fit(body, max_segments, suffix)
    if segments(result) > max_segments or len(result) > MAX_BODY_CHARS:
        result = fit(body + suffix, max_segments)
    return result
