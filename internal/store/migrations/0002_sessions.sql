-- Console sessions and the indexes the console and API read with.
--
-- A session row is keyed by the SHA-256 of the cookie's random id, so the
-- table holds no usable session. token_hash is the manager's token hash at
-- sign-in: the session only counts while the manager still has that token,
-- so rotating or revoking a token signs its console sessions out.

-- +goose Up

CREATE TABLE sessions (
    id_hash    bytea PRIMARY KEY,
    manager_id text NOT NULL REFERENCES managers (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL,
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_manager_idx ON sessions (manager_id);

-- Inboxes: ops reads every open task by due time; the "done" tab reads the
-- latest completions, of one assignee or of everyone.
CREATE INDEX tasks_state_due_idx ON tasks (state, due_at, id);
CREATE INDEX tasks_assignee_state_completed_idx ON tasks (assignee_id, state, completed_at DESC, id);
CREATE INDEX tasks_state_completed_idx ON tasks (state, completed_at DESC, id);
-- The account timeline lists completions newest first.
CREATE INDEX tasks_account_completed_idx ON tasks (account_id, completed_at) WHERE completed_at IS NOT NULL;
-- The accounts list is ordered by name for everyone who sees all accounts.
CREATE INDEX accounts_name_idx ON accounts (name, id);
-- The outbox page lists the newest mail first.
CREATE INDEX outbox_created_idx ON outbox (created_at DESC, id);
