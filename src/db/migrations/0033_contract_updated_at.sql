-- The data contract's upserts of leads, lists and segments (PUT /api/v1/leads, /lists,
-- /segments; docs/data-contract.md) answer with updatedAt like contacts (0031): when the CRM last
-- changed the row; an upsert that changes nothing leaves it as it was. Only columns are added;
-- rows from before this migration start from created_at.
ALTER TABLE leads ADD COLUMN updated_at timestamptz;
UPDATE leads SET updated_at = created_at;
ALTER TABLE leads ALTER COLUMN updated_at SET DEFAULT now(), ALTER COLUMN updated_at SET NOT NULL;

ALTER TABLE contact_lists ADD COLUMN updated_at timestamptz;
UPDATE contact_lists SET updated_at = created_at;
ALTER TABLE contact_lists ALTER COLUMN updated_at SET DEFAULT now(), ALTER COLUMN updated_at SET NOT NULL;

ALTER TABLE segments ADD COLUMN updated_at timestamptz;
UPDATE segments SET updated_at = created_at;
ALTER TABLE segments ALTER COLUMN updated_at SET DEFAULT now(), ALTER COLUMN updated_at SET NOT NULL;
