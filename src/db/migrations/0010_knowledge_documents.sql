-- Knowledge documents of the CRM (written by the app) and what knowledge-sync has put into
-- Qdrant. knowledge_vectors is the sync state: one row per document whose embedding is in the
-- collection, with the hash of the text it was made from. A document is (re-)embedded when it
-- has no row or its hash changed; a row whose document was deleted (or soft-deleted) has its
-- point removed. No foreign key: the row must outlive its document until the point is gone.
CREATE TABLE knowledge_documents (
  id          text        PRIMARY KEY,
  tenant_id   text,
  title       text        NOT NULL DEFAULT '',
  content     text        NOT NULL,
  metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz
);
CREATE INDEX knowledge_documents_tenant ON knowledge_documents (tenant_id);

CREATE TABLE knowledge_vectors (
  document_id  text        PRIMARY KEY,
  point_id     uuid        NOT NULL UNIQUE,
  content_hash text        NOT NULL,
  model        text        NOT NULL,
  synced_at    timestamptz NOT NULL DEFAULT now()
);
