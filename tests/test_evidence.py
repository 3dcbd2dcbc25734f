"""Evidence uploads: type from content, size, broken images, HEIC, metadata stripped,
background re-encoding of large files."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from portal.cases import evidence
from portal.cases.evidence import EvidenceError, Upload
from tests.test_cases_support import DATA, file_claim, get_case, post_claim, upload


def _read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_sniff_uses_content_not_name():
    assert evidence.sniff(_read("photo_with_gps.jpg")) == "image/jpeg"
    assert evidence.sniff(_read("photo.png")) == "image/png"
    assert evidence.sniff(_read("iphone.heic")) == "image/heic"
    assert evidence.sniff(_read("receipt.pdf")) == "application/pdf"
    assert evidence.sniff(_read("not_a_photo.jpg")) is None  # an ELF binary named .jpg
    assert evidence.sniff(b"MZ\x90\x00" + b"\x00" * 60) is None  # a Windows executable


@pytest.mark.parametrize("name,data,code", [
    ("not_a_photo.jpg", None, "type"),
    ("setup.jpg", b"MZ\x90\x00" + b"\x00" * 100, "type"),
    ("broken.jpg", None, "broken"),
    ("empty.png", b"", "empty"),
    ("fake.pdf", b"%PDF-1.4 no trailer", "broken"),
])
def test_refused_files(app_ctx, name, data, code):
    with pytest.raises(EvidenceError) as error:
        evidence.accept(Upload(name, _read(name) if data is None else data))
    assert error.value.code == code


def test_oversized_file_refused(app_ctx):
    app_ctx.config["CASES_EVIDENCE_MAX_BYTES"] = 1000
    big = _read("photo_with_gps.jpg") + b"\x00" * 1000
    with pytest.raises(EvidenceError) as error:
        evidence.accept(Upload("big.jpg", big))
    assert error.value.code == "too_large"


def test_jpeg_reencoded_without_exif_or_gps_and_upright(app_ctx):
    original = Image.open(DATA / "photo_with_gps.jpg")
    assert original.getexif().get_ifd(0x8825)  # the fixture really has GPS
    row = evidence.accept(Upload("photo_with_gps.jpg", _read("photo_with_gps.jpg")))
    assert (row.state, row.content_type) == ("ready", "image/jpeg")
    stored = evidence.storage().get(row.storage_key)
    image = Image.open(io.BytesIO(stored))
    assert not image.getexif() and "exif" not in image.info
    assert b"SpyCam" not in stored and b"GPS" not in stored
    assert (image.width, image.height) == (48, 64)  # orientation 6 applied: rotated


def test_heic_accepted_and_converted_to_jpeg(app_ctx):
    row = evidence.accept(Upload("IMG_0001.HEIC", _read("iphone.heic")))
    assert (row.state, row.content_type) == ("ready", "image/jpeg")
    image = Image.open(io.BytesIO(evidence.storage().get(row.storage_key)))
    assert image.format == "JPEG" and image.size == (64, 48)


def test_pdf_kept_as_is(app_ctx):
    row = evidence.accept(Upload("receipt.pdf", _read("receipt.pdf")))
    assert row.content_type == "application/pdf"
    assert evidence.storage().get(row.storage_key) == _read("receipt.pdf")


def test_large_images_are_reencoded_in_the_background(client, app):
    app.config["CASES_EVIDENCE_INLINE_BYTES"] = 100  # everything counts as "large"
    ref = file_claim(client, type="damage", claimed="100", damaged_percent="20",
                     files=[upload("photo_with_gps.jpg")])
    case = get_case(app, ref)  # the eager task ran after the commit
    row = case.evidence[0]
    assert (row.state, row.content_type) == ("ready", "image/jpeg")
    with app.app_context():
        stored = evidence.storage().get(row.storage_key)
        assert b"SpyCam" not in stored
        assert not row.storage_key.startswith("incoming/")


def test_truncated_large_image_refused_at_upload(client, app):
    app.config["CASES_EVIDENCE_INLINE_BYTES"] = 10
    response = post_claim(client, type="damage", claimed="100", damaged_percent="20",
                          files=[upload("cut.jpg", _read("photo_with_gps.jpg")[:200])])
    assert response.status_code == 422
    assert "cut.jpg could not be read" in response.get_data(as_text=True)


def test_background_failure_is_recorded_and_shown_to_the_customer(client, app):
    from portal.extensions import db

    ref = file_claim(client, type="damage", claimed="100", damaged_percent="20")
    with app.app_context():
        from portal.cases.models import Case, CaseEvidence

        case = db.session.query(Case).filter_by(reference=ref).one()
        evidence.storage().put("incoming/x.bin", b"\xff\xd8\xff garbage")
        row = CaseEvidence(case_id=case.id, original_name="late.jpg", content_type="image/jpeg",
                           sha256="0" * 64, storage_key="incoming/x.bin", state="pending")
        db.session.add(row)
        db.session.commit()
        from portal.cases.tasks import process_evidence_job

        assert process_evidence_job([row.id]) == {str(row.id): "failed"}
    page = client.get(f"/claims/{ref}").get_data(as_text=True)
    assert "late.jpg" in page and "could not be read" in page


def test_form_refuses_renamed_executable_and_keeps_the_rest(client, app):
    response = post_claim(client, type="damage", claimed="100", damaged_percent="20",
                          files=[upload("not_a_photo.jpg"), upload("photo.png")])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "not_a_photo.jpg is not a photo" in page
    assert "photo.png" in page  # the good file is kept for the next try


def test_at_most_five_files(client):
    files = [upload("photo.png", _read("photo.png")) for _ in range(6)]
    response = post_claim(client, type="damage", claimed="100", damaged_percent="20",
                          files=files)
    assert response.status_code == 422
    assert "At most 5 files" in response.get_data(as_text=True)


def test_request_too_large_is_refused_before_reading(make_app):
    small = make_app(CASES_MAX_REQUEST_BYTES=2000)
    client = small.test_client()
    response = post_claim(client, files=[upload("big.jpg", b"\xff\xd8\xff" + b"0" * 5000)])
    assert response.status_code == 413


def test_storage_refuses_paths_outside_its_folder(tmp_path):
    store = evidence.FolderStorage(tmp_path)
    with pytest.raises(ValueError):
        store.put("../escape.txt", b"x")
