-- Users provisioned through the SCIM 2.0 server (/scim/v2/Users). The whole resource
-- (core and enterprise extension attributes, never a password) is kept as JSON so a
-- GET returns what the identity provider provisioned.
--
-- `active` is 0 only when the resource says `"active": false`. `deactivations` counts
-- the user's true → false transitions: it names each deactivation's intake event, so a
-- replayed PATCH starts nothing while a deactivation after a reactivation does.
-- `pending_event` holds a transition committed with the user but not yet handed to
-- intake (an offboarding to start, a scheduled one to cancel); it is cleared once
-- handled, and handled again after a crash. A deleted user keeps its row
-- (`deleted_at`) only until its pending event is handled.
CREATE TABLE scim_users (
    id             TEXT PRIMARY KEY,
    user_name      TEXT NOT NULL,
    user_name_key  TEXT NOT NULL,
    external_id    TEXT,
    active         BIGINT NOT NULL,
    resource       TEXT NOT NULL,
    version        BIGINT NOT NULL,
    deactivations  BIGINT NOT NULL DEFAULT 0,
    pending_event  TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    deleted_at     BIGINT
);
-- userName is unique among live users, compared without case (RFC 7643: caseExact false).
CREATE UNIQUE INDEX scim_users_user_name ON scim_users (user_name_key) WHERE deleted_at IS NULL;
CREATE INDEX scim_users_external_id ON scim_users (external_id);
CREATE INDEX scim_users_listing ON scim_users (created_at, id);
CREATE INDEX scim_users_pending ON scim_users (id) WHERE pending_event IS NOT NULL;
