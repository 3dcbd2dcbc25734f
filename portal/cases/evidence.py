"""Evidence uploads: type from the content, size limits, re-encoding without metadata,
storage behind a small adapter.

- The type comes from the bytes (magic numbers, then Pillow), never from the file name or
  the browser's ``Content-Type``: JPEG, PNG, WebP, HEIC/HEIF (iPhone photos, through
  pillow-heif) and PDF. Anything else (a renamed executable) is refused.
- At most ``CASES_EVIDENCE_MAX_FILES`` (5) files of ``CASES_EVIDENCE_MAX_BYTES`` (10 MB).
- Images are decoded and re-encoded as JPEG without EXIF/GPS or any other metadata,
  rotated upright first. Small files are re-encoded during the request (a broken image is
  refused at once); larger ones are stored as received, marked ``pending`` and re-encoded
  by the ``portal.cases.process_evidence`` task after the commit. PDFs are checked for a
  PDF header and trailer and kept as they are.
- Storage is a folder by default (``CASES_EVIDENCE_FOLDER``, under ``instance/``); another
  backend implements :class:`Storage`.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flask import current_app

from portal.cases.models import CaseEvidence, EvidenceState
from portal.db import utcnow
from portal.extensions import db

try:  # pillow-heif registers the HEIC/HEIF opener with Pillow
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - listed in requirements
    pillow_heif = None

IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/heic"}
PDF = "application/pdf"
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


class EvidenceError(ValueError):
    """A file that is refused; ``code`` says why (too_large, empty, type, broken, too_many)."""

    def __init__(self, code: str, name: str = ""):
        """``name`` is the file's (sanitised) name, for the message."""
        super().__init__(code)
        self.code = code
        self.name = name


class Storage(Protocol):
    """Where evidence bytes live."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (overwrites)."""

    def get(self, key: str) -> bytes:
        """Return the bytes stored under ``key``."""

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error when missing)."""


class FolderStorage:
    """Files in a folder; keys are relative paths without ``..``."""

    def __init__(self, root: str | Path):
        """``root`` is created when missing."""
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("key outside the storage folder")
        return path

    def put(self, key: str, data: bytes) -> None:
        """Write atomically (temporary file, then rename)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".part")
        temporary.write_bytes(data)
        temporary.replace(path)

    def get(self, key: str) -> bytes:
        """Read the file."""
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        """Remove the file if it exists."""
        self._path(key).unlink(missing_ok=True)


def storage() -> Storage:
    """The configured storage (a folder under ``instance/`` by default)."""
    folder = current_app.config.get("CASES_EVIDENCE_FOLDER") or str(
        Path(current_app.instance_path) / "evidence")
    return FolderStorage(folder)


@dataclass(frozen=True)
class Upload:
    """A file as received: its name (as the browser sent it) and bytes."""

    name: str
    data: bytes


def safe_name(name: str) -> str:
    """A display name without paths or control characters, at most 120 characters."""
    name = unicodedata.normalize("NFKC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:120] or "file"


def sniff(data: bytes) -> str | None:
    """The content type from the first bytes, or None for anything not accepted."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "image/heic"
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def reencode(data: bytes) -> tuple[bytes, int, int]:
    """Decode an image and re-encode it as JPEG without metadata, upright and bounded.

    Raises ``EvidenceError("broken")`` when the image cannot be decoded.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    config = current_app.config
    max_pixels = int(config.get("CASES_EVIDENCE_MAX_PIXELS", 60_000_000))
    max_side = int(config.get("CASES_EVIDENCE_MAX_SIDE", 4096))
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > max_pixels:
                raise EvidenceError("broken")
            is_heif = image.format in ("HEIF", "HEIC", "AVIF")
            # pillow-heif rotates on open already: rotating again would turn it twice
            upright = image if is_heif else ImageOps.exif_transpose(image)
            upright.load()
            if upright.mode in ("RGBA", "LA", "P"):
                rgba = upright.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
            else:
                flat = upright.convert("RGB")
            flat.thumbnail((max_side, max_side))
            out = io.BytesIO()
            flat.save(out, "JPEG", quality=int(config.get("CASES_EVIDENCE_JPEG_QUALITY", 85)),
                      optimize=False)  # no exif=..., so no metadata is written
            return out.getvalue(), flat.width, flat.height
    except EvidenceError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError) as error:
        raise EvidenceError("broken") from error


def check_pdf(data: bytes) -> None:
    """A PDF must start with a header and end with a trailer."""
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-2048:]:
        raise EvidenceError("broken")


def _key(extension: str) -> str:
    now = utcnow()
    return f"{now:%Y/%m}/{secrets.token_hex(16)}.{extension}"


def accept(upload: Upload, *, uploaded_by: str = "customer") -> CaseEvidence:
    """Check one upload, store it and return an unsaved ``CaseEvidence`` row.

    Raises :class:`EvidenceError` for a refused file (nothing is stored then).
    """
    config = current_app.config
    name = safe_name(upload.name)
    data = upload.data
    if not data:
        raise EvidenceError("empty", name)
    if len(data) > int(config.get("CASES_EVIDENCE_MAX_BYTES", 10 * 1024 * 1024)):
        raise EvidenceError("too_large", name)
    kind = sniff(data)
    if kind is None:
        raise EvidenceError("type", name)
    row = CaseEvidence(original_name=name, uploaded_by=uploaded_by,
                       sha256=hashlib.sha256(data).hexdigest())
    inline_limit = int(config.get("CASES_EVIDENCE_INLINE_BYTES", 3 * 1024 * 1024))
    try:
        if kind == PDF:
            check_pdf(data)
            stored, row.content_type, row.state = data, PDF, EvidenceState.READY
            key = _key("pdf")
        elif len(data) <= inline_limit:
            stored, row.width, row.height = reencode(data)
            row.content_type, row.state = "image/jpeg", EvidenceState.READY
            key = _key("jpg")
        else:
            _quick_image_check(data)
            stored, row.content_type, row.state = data, kind, EvidenceState.PENDING
            key = "incoming/" + _key("bin")
    except EvidenceError as error:
        error.name = name
        raise
    storage().put(key, stored)
    row.storage_key, row.size_bytes = key, len(stored)
    if row.state == EvidenceState.READY:
        row.processed_at = utcnow()
    return row


def _quick_image_check(data: bytes) -> None:
    """Header check without decoding every pixel (the task decodes later)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception as error:
        raise EvidenceError("broken") from error


def process(evidence_id: int) -> tuple[str, str | None]:
    """Re-encode one pending file (the background task).

    Returns the new state and the key of the original, which the caller deletes after
    committing (so a failed commit never leaves a row pointing at a deleted file).
    """
    row = db.session.get(CaseEvidence, evidence_id)
    if row is None or row.state != EvidenceState.PENDING:
        return (row.state if row else "missing"), None
    store = storage()
    original_key = row.storage_key
    try:
        data, row.width, row.height = reencode(store.get(original_key))
    except (EvidenceError, FileNotFoundError) as error:
        row.state, row.error = EvidenceState.FAILED, f"could not decode: {error}"[:300]
        row.processed_at = utcnow()
        db.session.flush()
        return row.state, original_key
    key = _key("jpg")
    store.put(key, data)
    row.storage_key, row.size_bytes, row.content_type = key, len(data), "image/jpeg"
    row.state, row.processed_at = EvidenceState.READY, utcnow()
    db.session.flush()
    return row.state, original_key  # the original (with its metadata) goes after commit


def read(row: CaseEvidence) -> bytes:
    """The stored bytes of a file (re-encoded when ready)."""
    return storage().get(row.storage_key)
