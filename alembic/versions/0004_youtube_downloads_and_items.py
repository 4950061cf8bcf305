"""youtube downloads and items

The original design's youtube_downloads table was never written by any release; it is replaced
by the downloads table of this shape and one row per video (youtube_download_items). The upgrade
refuses to drop the old table if it holds rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 14:51:35.980036
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _old_downloads() -> None:
    op.create_table('youtube_downloads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('playlist_title', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('file_paths', sa.JSON(), nullable=False),
    sa.Column('plex_collection_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('youtube_downloads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_youtube_downloads_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_youtube_downloads_user_status', ['user_id', 'status'], unique=False)


def _drop_downloads() -> None:
    with op.batch_alter_table('youtube_downloads', schema=None) as batch_op:
        batch_op.drop_index('ix_youtube_downloads_user_status')
        batch_op.drop_index(batch_op.f('ix_youtube_downloads_created_at'))
    op.drop_table('youtube_downloads')


def upgrade() -> None:
    rows = op.get_bind().execute(sa.text("SELECT count(*) FROM youtube_downloads")).scalar()
    if rows:
        raise RuntimeError(f"youtube_downloads holds {rows} rows of an unknown shape; move them away first")
    _drop_downloads()
    op.create_table('youtube_downloads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('source_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('uploader', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('thumbnail_url', sa.Text(), nullable=True),
    sa.Column('quality', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('folder', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
    sa.Column('make_collection', sa.Boolean(), nullable=False),
    sa.Column('collection_title', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('collection_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('keep_in_sync', sa.Boolean(), nullable=False),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('plex_attempts', sa.Integer(), nullable=False),
    sa.Column('plex_claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('youtube_downloads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_youtube_downloads_created_at'), ['created_at'], unique=False)
        batch_op.create_index('ix_youtube_downloads_user_status', ['user_id', 'status'], unique=False)

    op.create_table('youtube_download_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('download_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('entry_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('error_kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('downloaded_bytes', sa.BigInteger(), nullable=False),
    sa.Column('total_bytes', sa.BigInteger(), nullable=True),
    sa.Column('file_path', sa.Text(), nullable=True),
    sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['download_id'], ['youtube_downloads.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('download_id', 'entry_id', name='uq_youtube_download_items_entry')
    )
    with op.batch_alter_table('youtube_download_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_youtube_download_items_download_id'), ['download_id'], unique=False)
        batch_op.create_index('ix_youtube_download_items_status', ['status', 'user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('youtube_download_items', schema=None) as batch_op:
        batch_op.drop_index('ix_youtube_download_items_status')
        batch_op.drop_index(batch_op.f('ix_youtube_download_items_download_id'))
    op.drop_table('youtube_download_items')
    _drop_downloads()
    _old_downloads()
