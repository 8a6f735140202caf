-- The mapping table: which account an identity (by email) has in each system, set
-- through the API or a CSV import. Offboardings merge it under the accounts their
-- request names.
CREATE TABLE identity_accounts (
    email       TEXT NOT NULL,
    system      TEXT NOT NULL,
    account     TEXT NOT NULL,
    source      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (email, system)
);
