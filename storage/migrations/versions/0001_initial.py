"""Initial schema: users, profiles, conversation state, dedup, message log, photos, assessments, reminders,
staff accounts, audit log, key-value cache.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 12:01:57.254848
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of storage/columns.py's types as of this revision (a migration must not change when the
# models do). Timestamps hold UTC; SQLite stores them as naive text.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('kv_cache',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('expires_at', Timestamp, nullable=True),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_kv_cache'))
    )
    op.create_table('staff_accounts',
        sa.Column('id', BigId, nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('disabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', Timestamp, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_accounts')),
        sa.UniqueConstraint('username', name=op.f('uq_staff_accounts_username'))
    )
    op.create_table('users',
        sa.Column('id', BigId, nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('platform_user_id', sa.String(length=128), nullable=False),
        sa.Column('locale', sa.String(length=16), nullable=True),
        sa.Column('timezone', sa.String(length=64), nullable=True),
        sa.Column('consent', sa.String(length=16), nullable=False),
        sa.Column('consent_at', Timestamp, nullable=True),
        sa.Column('created_at', Timestamp, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
        sa.UniqueConstraint('channel', 'platform_user_id', name=op.f('uq_users_channel_platform_user_id'))
    )
    op.create_table('assessments',
        sa.Column('id', BigId, nullable=False),
        sa.Column('user_id', BigId, nullable=False),
        sa.Column('created_at', Timestamp, nullable=False),
        sa.Column('score', sa.Integer(), nullable=False),
        sa.Column('grade', sa.String(length=16), nullable=False),
        sa.Column('grade_personalised', sa.String(length=16), nullable=True),
        sa.Column('counts', Json, nullable=False),
        sa.Column('result', Json, nullable=False),
        sa.Column('model_version', sa.String(length=128), nullable=True),
        sa.Column('referral', sa.Boolean(), nullable=False),
        sa.Column('photo_ids', Json, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                name=op.f('fk_assessments_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_assessments'))
    )
    op.create_index('ix_assessments_user_id_created_at', 'assessments', ['user_id', 'created_at'])
    op.create_table('audit_log',
        sa.Column('id', BigId, nullable=False),
        sa.Column('at', Timestamp, nullable=False),
        sa.Column('staff_id', BigId, nullable=True),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('subject_user_id', BigId, nullable=True),
        sa.Column('detail', Json, nullable=True),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_accounts.id'],
                name=op.f('fk_audit_log_staff_id_staff_accounts'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['subject_user_id'], ['users.id'],
                name=op.f('fk_audit_log_subject_user_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_index('ix_audit_log_subject_user_id', 'audit_log', ['subject_user_id'])
    op.create_table('conversation_states',
        sa.Column('user_id', BigId, nullable=False),
        sa.Column('flow', sa.String(length=64), nullable=True),
        sa.Column('step', sa.String(length=64), nullable=True),
        sa.Column('data', Json, nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', Timestamp, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                name=op.f('fk_conversation_states_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_conversation_states'))
    )
    op.create_table('photos',
        sa.Column('id', BigId, nullable=False),
        sa.Column('user_id', BigId, nullable=False),
        sa.Column('region', sa.String(length=32), nullable=True),
        sa.Column('key_id', sa.String(length=32), nullable=False),
        sa.Column('nonce', sa.LargeBinary(), nullable=False),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('created_at', Timestamp, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_photos_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_photos'))
    )
    op.create_index('ix_photos_created_at', 'photos', ['created_at'])
    op.create_index('ix_photos_user_id_sha256', 'photos', ['user_id', 'sha256'])
    op.create_table('processed_messages',
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('message_id', sa.String(length=128), nullable=False),
        sa.Column('user_id', BigId, nullable=True),
        sa.Column('created_at', Timestamp, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                name=op.f('fk_processed_messages_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('channel', 'message_id', name=op.f('pk_processed_messages'))
    )
    op.create_index('ix_processed_messages_created_at', 'processed_messages', ['created_at'])
    op.create_index('ix_processed_messages_user_id', 'processed_messages', ['user_id'])
    op.create_table('profiles',
        sa.Column('user_id', BigId, nullable=False),
        sa.Column('answers', Json, nullable=False),
        sa.Column('updated_at', Timestamp, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_profiles_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_profiles'))
    )
    op.create_table('reminders',
        sa.Column('id', BigId, nullable=False),
        sa.Column('user_id', BigId, nullable=False),
        sa.Column('cadence', sa.String(length=16), nullable=False),
        sa.Column('time_of_day', sa.Time(), nullable=False),
        sa.Column('next_due_at', Timestamp, nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('claimed_until', Timestamp, nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('updated_at', Timestamp, nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reminders_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reminders')),
        sa.UniqueConstraint('user_id', name=op.f('uq_reminders_user_id'))
    )
    op.create_index('ix_reminders_state_next_due_at', 'reminders', ['state', 'next_due_at'])
    op.create_table('message_log',
        sa.Column('id', BigId, nullable=False),
        sa.Column('user_id', BigId, nullable=False),
        sa.Column('direction', sa.String(length=3), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('text', sa.Text(), nullable=True),
        sa.Column('photo_id', BigId, nullable=True),
        sa.Column('created_at', Timestamp, nullable=False),
        sa.ForeignKeyConstraint(['photo_id'], ['photos.id'],
                name=op.f('fk_message_log_photo_id_photos'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                name=op.f('fk_message_log_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_message_log'))
    )
    op.create_index('ix_message_log_user_id_created_at', 'message_log', ['user_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_message_log_user_id_created_at', table_name='message_log')
    op.drop_table('message_log')
    op.drop_index('ix_reminders_state_next_due_at', table_name='reminders')
    op.drop_table('reminders')
    op.drop_table('profiles')
    op.drop_index('ix_processed_messages_user_id', table_name='processed_messages')
    op.drop_index('ix_processed_messages_created_at', table_name='processed_messages')
    op.drop_table('processed_messages')
    op.drop_index('ix_photos_user_id_sha256', table_name='photos')
    op.drop_index('ix_photos_created_at', table_name='photos')
    op.drop_table('photos')
    op.drop_table('conversation_states')
    op.drop_index('ix_audit_log_subject_user_id', table_name='audit_log')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index('ix_assessments_user_id_created_at', table_name='assessments')
    op.drop_table('assessments')
    op.drop_table('users')
    op.drop_table('staff_accounts')
    op.drop_table('kv_cache')
