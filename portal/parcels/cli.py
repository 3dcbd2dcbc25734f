"""``flask parcels ...``: import a file with a progress bar, undo a batch, resume jobs,
write the template."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask import g
from flask.cli import AppGroup

from portal.extensions import db
from portal.parcels import services, tasks
from portal.parcels.importer import read_rejects
from portal.parcels.models import ImportStatus, ParcelImport
from portal.parcels.templates import template_csv
from portal.staff.audit import cli_actor

parcels_cli = AppGroup("parcels", help="Affected parcels: import, undo, template.")


@parcels_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--incident", "reference", required=True, help="Incident reference.")
@click.option("--mode", type=click.Choice(["add", "replace"]), default="add",
              show_default=True)
def import_command(file: Path, reference: str, mode: str) -> None:
    """Import a CSV or XLSX FILE of affected parcels into an incident."""
    started = time.monotonic()
    g.audit_actor_label = cli_actor()
    incident = services.find_incident(reference)
    if incident is None:
        raise click.ClickException(f"no incident {reference!r}")
    batch = services.create_batch(incident, mode=mode, source="cli", file_name=file.name,
                                  actor_label=cli_actor())
    try:
        services.store_file(batch, file)
    except services.ParcelError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    db.session.commit()
    batch_id = batch.id
    with click.progressbar(length=100, label=f"Importing {file.name}",
                           show_percent=True) as bar:
        shown = [0]

        def progress(_batch, rows, fraction, phase):
            target = int(fraction * 90) if phase == "reading" else 95
            if target > shown[0]:
                bar.update(target - shown[0])
                shown[0] = target

        tasks.run_batch_job(batch_id, progress)
        bar.update(100 - shown[0])
    batch = db.session.get(ParcelImport, batch_id)
    if batch.status != ImportStatus.DONE:
        raise click.ClickException(f"import failed: {services.failure_message(batch)}")
    click.echo(f"batch {batch.id}: {batch.total_rows} rows, {batch.inserted} new, "
               f"{batch.updated} updated, {batch.unchanged} unchanged, "
               f"{batch.deactivated} no longer affected, {batch.rejected} rejected, "
               f"in {time.monotonic() - started:.2f} s")
    for row in read_rejects(batch.rejects_path, 20):
        click.echo(f"  line {row['line']}: {row['tracking_number']}: {row['reason']}")
    if batch.rejected > 20:
        click.echo(f"  ... all rejected rows: {batch.rejects_path}")


@parcels_cli.command("undo")
@click.argument("batch_id", type=int)
def undo_command(batch_id: int) -> None:
    """Undo import BATCH_ID (only an incident's latest)."""
    g.audit_actor_label = cli_actor()
    batch = db.session.get(ParcelImport, batch_id)
    if batch is None:
        raise click.ClickException(f"no batch {batch_id}")
    try:
        restored, deleted = services.undo(batch, cli_actor())
    except services.ParcelError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from error
    db.session.commit()
    click.echo(f"batch {batch_id} undone: {restored} restored, {deleted} removed")


@parcels_cli.command("resume")
def resume_command() -> None:
    """Queue again imports left pending or running by a stopped worker."""
    click.echo(f"{tasks.resume_pending()} batch(es) queued")


@parcels_cli.command("template")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
def template_command(output: Path) -> None:
    """Write the import template (CSV, UTF-8 with BOM) to OUTPUT."""
    output.write_bytes(template_csv())
    click.echo(f"template written to {output}")
