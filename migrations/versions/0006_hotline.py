"""hotline: remembered language per number, inbound SMS log, status callbacks; outbox
lease start and delivery time (reconciliation and per-update delivery stats)

Revision ID: 0006_hotline
Revises: 0005b_queue_risk
Create Date: 2026-11-26 07:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006_hotline'
down_revision = '0005b_queue_risk'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sms_contact',
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('language_source', sa.String(length=10), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('inbound_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_sms_contact'))
    )
    op.create_table('sms_inbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_sid', sa.String(length=64), nullable=False),
    sa.Column('from_number', sa.String(length=32), nullable=False),
    sa.Column('to_number', sa.String(length=32), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('command', sa.String(length=20), nullable=False),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['customer_case.id'],
                            name=op.f('fk_sms_inbound_case_id_customer_case'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_inbound')),
    sa.UniqueConstraint('message_sid', name=op.f('uq_sms_inbound_message_sid'))
    )
    with op.batch_alter_table('sms_inbound', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_inbound_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_inbound_created_at'), ['created_at'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_sms_inbound_from_number'), ['from_number'],
                              unique=False)

    op.create_table('sms_status_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_sid', sa.String(length=64), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=30), nullable=False),
    sa.Column('error_code', sa.String(length=20), nullable=True),
    sa.Column('to_number', sa.String(length=32), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox_message.id'],
                            name=op.f('fk_sms_status_event_outbox_id_outbox_message'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_status_event'))
    )
    with op.batch_alter_table('sms_status_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_status_event_message_sid'), ['message_sid'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_sms_status_event_outbox_id'), ['outbox_id'],
                              unique=False)

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leased_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('leased_at')
    with op.batch_alter_table('sms_status_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_status_event_outbox_id'))
        batch_op.drop_index(batch_op.f('ix_sms_status_event_message_sid'))
    op.drop_table('sms_status_event')
    with op.batch_alter_table('sms_inbound', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_inbound_from_number'))
        batch_op.drop_index(batch_op.f('ix_sms_inbound_created_at'))
        batch_op.drop_index(batch_op.f('ix_sms_inbound_case_id'))
    op.drop_table('sms_inbound')
    op.drop_table('sms_contact')
