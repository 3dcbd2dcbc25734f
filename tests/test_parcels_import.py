"""Importing affected parcels: CSV/XLSX, encodings, modes, re-import, history, undo, the
PostgreSQL COPY path against the portable one, the CLI, the background job."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from test_parcels_support import (
    JD,
    JT,
    POST,
    S10,
    SF,
    STO,
    batch_fields,
    csv_bytes,
    history,
    import_file,
    make_incident,
    parcels,
    rejects,
)

from portal.extensions import db

HEADER_ZH = ["运单号", "状态", "新预计送达日期", "收件人电话", "寄件人电话", "最后位置",
             "最后扫描时间", "目的城市"]
HEADER_EN = ["Tracking No.", "Status", "Expected delivery", "Recipient phone", "Sender phone",
             "Last location", "Last scan time", "Destination city"]
ROWS = [
    [SF, "延误", "2026-03-05", "138-0000-1234", "", "深圳分拨中心", "2026-03-01 14:30", "北京"],
    [JT.lower(), "held", "2026/3/6", "", "13900005678", "", "", ""],
    [S10, "丢失", "", "", "", "", "", ""],
]


@pytest.fixture(autouse=True)
def _import_folder(app, tmp_path):
    app.config["PARCEL_IMPORT_FOLDER"] = str(tmp_path / "imports")


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_good_csv_with_chinese_headers(app, tmp_path):
    ref = make_incident(app)
    batch = import_file(app, ref, write(tmp_path, "a.csv", csv_bytes(ROWS, HEADER_ZH)))
    assert (batch["status"], batch["inserted"], batch["rejected"]) == ("done", 3, 0)
    stored = parcels(app)
    assert stored[SF]["situation"] == "delayed"
    assert str(stored[SF]["expected_delivery"]) == "2026-03-05"
    assert stored[SF]["last_location"] == "深圳分拨中心"
    assert stored[SF]["last_seen_at"].isoformat() == "2026-03-01T06:30:00+00:00"  # Shanghai
    assert stored[SF]["destination_city"] == "北京"
    assert stored[JT]["situation"] == "held" and stored[S10]["situation"] == "lost"
    assert stored[SF]["carrier"] == "SF Express"


def test_phones_are_kept_only_as_hmac_of_the_last_four(app, tmp_path):
    from portal.verification import phone_tail_digest

    ref = make_incident(app)
    import_file(app, ref, write(tmp_path, "a.csv", csv_bytes(ROWS, HEADER_EN)))
    stored = parcels(app)
    with app.app_context():
        assert stored[SF]["recipient_tail"] == phone_tail_digest("1234", SF)
        assert stored[JT]["sender_tail"] == phone_tail_digest("5678", JT)
    assert stored[SF]["sender_tail"] is None
    assert all("1234" not in str(v) for v in stored[SF].values())


def test_bad_and_mixed_rows_are_reported_with_line_and_reason(app, tmp_path):
    ref = make_incident(app)
    rows = [[SF, "delayed", ""], ["EA123456789CN", "delayed", ""], ["", "held", ""],
            [JT, "on fire", ""], [POST, "delayed", "next week"], [STO, "", ""],
            [SF, "held", ""]]
    batch = import_file(app, ref, write(tmp_path, "m.csv",
                                        csv_bytes(rows, ["tracking", "status", "eta"])))
    assert batch["inserted"] == 2 and batch["rejected"] == 5
    found = {int(r["line"]): r for r in rejects(batch)}
    assert set(found) == {2, 3, 4, 5, 6}
    from portal.parcels import tracking
    from portal.parcels.importer.rows import reason

    with app.app_context():  # the job writes reasons in the default language
        assert found[3]["reason"] == tracking.validate("EA123456789CN").message
        assert found[4]["reason"] == reason("missing")
        assert found[2]["reason"] == reason("duplicate", value=8)  # the later line wins
    assert "on fire" in found[5]["reason"]
    assert "next week" in found[6]["reason"]
    assert parcels(app)[SF]["situation"] == "held"


def test_only_the_tracking_number_is_required(app, tmp_path):
    ref = make_incident(app)
    batch = import_file(app, ref, write(tmp_path, "t.csv", csv_bytes([[SF], [JD]],
                                                                     ["快递单号"])))
    assert batch["inserted"] == 2
    assert parcels(app)[JD]["situation"] is None


def test_a_file_without_a_tracking_column_fails_cleanly(app, tmp_path):
    ref = make_incident(app)
    batch = import_file(app, ref, write(tmp_path, "x.csv", csv_bytes([["a"]], ["foo"])))
    assert batch["status"] == "failed" and batch["error"].startswith("no_tracking_column")
    assert parcels(app) == {}


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", False), ("utf-8", True),
                                               ("gb18030", False)])
def test_encodings(app, tmp_path, encoding, bom):
    ref = make_incident(app)
    data = csv_bytes(ROWS, HEADER_ZH, encoding=encoding, bom=bom)
    batch = import_file(app, ref, write(tmp_path, "e.csv", data))
    assert batch["inserted"] == 3 and batch["rejected"] == 0
    assert parcels(app)[SF]["last_location"] == "深圳分拨中心"


def test_xlsx(app, tmp_path):
    import datetime as dt

    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER_ZH)
    sheet.append([SF, "延误", dt.date(2026, 3, 5), 13800001234, None, "深圳", None, None])
    sheet.append([int(POST), "held", "2026-03-07", None, None, None, None, None])
    sheet.append(["not a number", "held", None, None, None, None, None, None])
    path = tmp_path / "list.xlsx"
    book.save(path)
    batch = import_file(app, ref := make_incident(app), path)
    assert batch["file_format"] == "xlsx"
    assert (batch["inserted"], batch["rejected"]) == (2, 1), rejects(batch)
    assert rejects(batch)[0]["line"] == "4"
    stored = parcels(app, ref)
    assert str(stored[SF]["expected_delivery"]) == "2026-03-05"
    assert stored[POST]["situation"] == "held"


def test_reimport_changes_nothing_and_later_files_are_history(app, tmp_path):
    ref = make_incident(app)
    path = write(tmp_path, "a.csv", csv_bytes(ROWS, HEADER_ZH))
    import_file(app, ref, path)
    before = parcels(app)
    again = import_file(app, ref, path)
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert parcels(app) == {k: {**v, "batch_id": v["batch_id"]} for k, v in before.items()}
    assert history(app, SF) == []
    later = write(tmp_path, "b.csv", csv_bytes([[SF, "rerouted", "2026-03-09"]],
                                               ["运单号", "状态", "预计送达日期"]))
    batch = import_file(app, ref, later)
    assert (batch["updated"], batch["unchanged"]) == (1, 0)
    stored = parcels(app)[SF]
    assert stored["situation"] == "rerouted" and str(stored["expected_delivery"]) == "2026-03-09"
    assert stored["last_location"] == "深圳分拨中心"  # empty/missing columns keep values
    rows = history(app, SF)
    assert len(rows) == 1 and rows[0]["kind"] == "updated"
    assert rows[0]["prev_situation"] == "delayed" and rows[0]["situation"] == "rerouted"


def test_replace_mode_marks_missing_parcels_no_longer_affected(app, tmp_path):
    ref = make_incident(app)
    other = make_incident(app)
    import_file(app, ref, write(tmp_path, "a.csv", csv_bytes(ROWS, HEADER_ZH)))
    import_file(app, other, write(tmp_path, "o.csv", csv_bytes([[JT]], ["运单号"])))
    batch = import_file(app, ref, write(tmp_path, "r.csv", csv_bytes([[SF]], ["运单号"])),
                        mode="replace")
    assert (batch["deactivated"], batch["unchanged"]) == (2, 1)
    stored = parcels(app, ref)
    assert stored[SF]["active"] and not stored[JT]["active"] and not stored[S10]["active"]
    assert parcels(app, other)[JT]["active"]  # other incidents untouched
    back = import_file(app, ref, write(tmp_path, "b.csv", csv_bytes([[JT]], ["运单号"])))
    assert back["updated"] == 1 and parcels(app, ref)[JT]["active"]
    assert [h["kind"] for h in history(app, JT) if h["batch_id"] == back["id"]] == [
        "reactivated"]


def test_replace_with_no_valid_row_is_refused(app, tmp_path):
    ref = make_incident(app)
    import_file(app, ref, write(tmp_path, "a.csv", csv_bytes(ROWS, HEADER_ZH)))
    batch = import_file(app, ref, write(tmp_path, "r.csv", csv_bytes([["bad"]], ["运单号"])),
                        mode="replace")
    assert batch["status"] == "failed"
    assert all(p["active"] for p in parcels(app).values())


def test_undo_restores_the_previous_state_latest_first(app, tmp_path):
    from portal.parcels import services
    from portal.parcels.models import ParcelImport

    ref = make_incident(app)
    first = import_file(app, ref, write(tmp_path, "a.csv", csv_bytes(ROWS, HEADER_ZH)))
    after_first = parcels(app)
    second = import_file(app, ref, write(tmp_path, "b.csv", csv_bytes(
        [[SF, "lost", "2026-04-01"], [POST, "held", ""]], ["运单号", "状态", "预计送达日期"])),
        mode="replace")
    assert second["deactivated"] == 2
    with app.app_context():
        with pytest.raises(services.ParcelError):
            services.undo(db.session.get(ParcelImport, first["id"]), "test")
        db.session.rollback()
        restored, deleted = services.undo(db.session.get(ParcelImport, second["id"]), "test")
        db.session.commit()
    assert (restored, deleted) == (3, 1)
    assert parcels(app) == after_first
    assert history(app, SF) == []
    assert batch_fields(app, second["id"])["status"] == "undone"
    with app.app_context():
        services.undo(db.session.get(ParcelImport, first["id"]), "test")
        db.session.commit()
    assert parcels(app) == {}


@pytest.mark.parametrize("repeated", [False, True])
def test_same_results_with_direct_copy_and_portable_paths(app, tmp_path, repeated):
    """The first-import shortcut (rows straight into affected_parcel), the staging table
    filled by COPY and batched executemany give identical parcels, counts and rejects. A
    file repeating a number makes the shortcut give up and merge through staging (the
    later line wins, the earlier is rejected), with the same result."""
    rows = [[f"SF{n:013d}", ["delayed", "held", "lost"][n % 3], f"2026-03-{n % 28 + 1:02d}",
             f"1380000{n:04d}", "", f"hub {n % 7}", "2026-03-01 08:00", "上海"]
            for n in range(3000)]
    rows += [["bad number", "", "", "", "", "", "", ""], [SF, "weird", "", "", "", "", "", ""]]
    extra = rows[:5] if repeated else []
    path = write(tmp_path, "big.csv", csv_bytes(rows + extra, HEADER_ZH))
    results = []
    for bulk, direct in (("auto", True), ("auto", False), ("portable", False)):
        app.config["PARCEL_IMPORT_BULK"] = bulk
        app.config["PARCEL_IMPORT_DIRECT"] = direct
        ref = make_incident(app)
        batch = import_file(app, ref, path)
        counts = {k: batch[k] for k in ("inserted", "updated", "unchanged", "rejected",
                                        "total_rows")}
        stored = {n: {k: v for k, v in p.items()
                      if k not in ("id", "incident_id", "created_batch_id", "batch_id",
                                   "created_at", "updated_at")}
                  for n, p in parcels(app, ref).items()}
        results.append((counts, stored, [(r["line"], r["reason"]) for r in rejects(batch)]))
    assert results[0] == results[1] == results[2]
    assert results[0][0]["inserted"] == 3000
    assert results[0][0]["rejected"] == (7 if repeated else 2)
    assert results[0][1][f"SF{2:013d}"]["situation"] == "lost"


def test_copy_is_used_on_postgresql(app, tmp_path, monkeypatch):
    """PostgreSQL loads with COPY: straight into the table for an incident's first import,
    into the staging table when there is something to merge with."""
    from portal.parcels.importer import staging

    used = []
    direct, staged = staging.load_direct, staging._copy
    monkeypatch.setattr(staging, "load_direct", lambda *a: used.append("direct") or direct(*a))
    monkeypatch.setattr(staging, "_copy", lambda conn, rows: used.append("copy") or
                        staged(conn, rows))
    ref = make_incident(app)
    path = write(tmp_path, "a.csv", csv_bytes(ROWS, HEADER_ZH))
    first = import_file(app, ref, path)
    again = import_file(app, ref, path)
    assert (first["inserted"], again["unchanged"]) == (3, 3)
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    assert used == (["direct", "copy"] if postgres else ["direct"])


def test_the_api_push_falls_back_when_a_number_repeats(app):
    """An API push of a new incident's first list with a repeated number: the later item
    wins, the earlier one is rejected as a duplicate, nothing is half-written."""
    from portal.parcels import services

    ref = make_incident(app)
    with app.app_context():
        incident = services.find_incident(ref)
        batch = services.import_items(incident, [
            {"tracking_number": SF, "situation": "delayed"},
            {"tracking_number": JT, "situation": "held"},
            {"tracking_number": SF, "situation": "lost"}])
        db.session.commit()
        counts = (batch.inserted, batch.rejected, batch.total_rows)
    assert counts == (2, 1, 3)
    stored = parcels(app, ref)
    assert stored[SF]["situation"] == "lost" and stored[JT]["situation"] == "held"


def test_cli_import_with_progress_and_undo(app, runner, tmp_path):
    ref = make_incident(app)
    path = write(tmp_path, "cli.csv", csv_bytes([*ROWS, ["junk", "", "", "", "", "", "", ""]],
                                                HEADER_ZH))
    result = runner.invoke(args=["parcels", "import", str(path), "--incident", ref])
    assert result.exit_code == 0, result.output
    assert "3 new" in result.output and "1 rejected" in result.output
    assert re.search(r"rejected, in \d+\.\d\d s", result.output)  # the import's own time
    assert "line 5: junk" in result.output
    result = runner.invoke(args=["parcels", "import", str(path), "--incident", ref,
                                 "--mode", "replace"])
    assert result.exit_code == 0 and "3 unchanged" in result.output
    assert runner.invoke(args=["parcels", "import", str(path), "--incident",
                               "NOPE"]).exit_code != 0
    from portal.parcels.models import ParcelImport

    with app.app_context():
        latest = db.session.scalar(select(ParcelImport.id).order_by(ParcelImport.id.desc()))
    result = runner.invoke(args=["parcels", "undo", str(latest)])
    assert result.exit_code == 0 and "undone" in result.output
    result = runner.invoke(args=["parcels", "template", str(tmp_path / "t.csv")])
    assert (tmp_path / "t.csv").read_bytes().startswith(b"\xef\xbb\xbftracking_number,")


def test_audit_records_imports_and_undo(app, tmp_path):
    from portal.staff.models import AuditEntry

    ref = make_incident(app)
    import_file(app, ref, write(tmp_path, "a.csv", csv_bytes(ROWS, HEADER_ZH)))
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEntry.action)))
    assert "parcels.imported" in actions


@pytest.mark.parametrize("direct", [True, False])
def test_text_with_tabs_newlines_and_backslashes_is_stored_as_given(app, tmp_path, direct):
    """COPY's text format escapes what it must: the stored text equals the cell's."""
    app.config["PARCEL_IMPORT_DIRECT"] = direct
    odd = "仓\t库 \\N 1\\\\2\n二楼\r"
    path = write(tmp_path, "odd.csv", csv_bytes(
        [[SF, "delayed", "", "", "", odd, "2026-03-01 14:30:15.250", "a\\b"]], HEADER_ZH))
    ref = make_incident(app)
    import_file(app, ref, path)
    stored = parcels(app, ref)[SF]
    assert stored["last_location"] == odd.strip()
    assert stored["destination_city"] == "a\\b"
    assert stored["last_seen_at"].isoformat() == "2026-03-01T06:30:15.250000+00:00"


def test_sqlite_page_cache_is_enlarged_only_during_the_import(app, tmp_path, monkeypatch):
    from portal.parcels.importer import staging

    seen = []
    load = staging.load_direct
    monkeypatch.setattr(staging, "load_direct", lambda conn, *a: seen.append(
        conn.exec_driver_sql("PRAGMA cache_size").scalar()
        if not staging.is_postgres(conn) else None) or load(conn, *a))
    with app.app_context():
        before = db.session.connection().exec_driver_sql("PRAGMA cache_size").scalar() \
            if db.engine.dialect.name == "sqlite" else None
        db.session.rollback()
    import_file(app, make_incident(app), write(tmp_path, "a.csv", csv_bytes(ROWS, HEADER_ZH)))
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            assert seen == [None]
            return
        after = db.session.connection().exec_driver_sql("PRAGMA cache_size").scalar()
    assert seen == [-staging.SQLITE_CACHE_KIB] and after == before
