"""parcels: the batch references of affected_parcel are plain columns (no foreign keys)

Three per-row foreign-key checks were ~60% of PostgreSQL's work in a bulk import (a
server-side COPY of 10^6 rows: 41.3 s with them, 26.1 s with only the incident's). The
batch table is append-only and written by the importer in the same transaction, so the
two batch references lose no guarantee the code relies on (docs/decisions.md).

Revision ID: 0007_parcel_batch_refs
Revises: 0006_hotline
Create Date: 2026-11-26 10:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007_parcel_batch_refs'
down_revision = '0006_hotline'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('affected_parcel', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_affected_parcel_batch_id_parcel_import'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_affected_parcel_created_batch_id_parcel_import'),
                                 type_='foreignkey')


def downgrade():
    # Batches are never deleted on their own, so every reference still points at a batch.
    with op.batch_alter_table('affected_parcel', schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f('fk_affected_parcel_created_batch_id_parcel_import'), 'parcel_import',
            ['created_batch_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(
            batch_op.f('fk_affected_parcel_batch_id_parcel_import'), 'parcel_import',
            ['batch_id'], ['id'], ondelete='SET NULL')
