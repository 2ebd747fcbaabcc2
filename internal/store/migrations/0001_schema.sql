-- kamflow's record of every key account. Rows are keyed by the workflow's
-- idempotency keys ("<account_id>:<kind>:<seq>") so an activity retry finds
-- what the first attempt wrote. Forward-only: no Down section; a later change
-- is a new numbered file.

-- +goose Up

CREATE TABLE managers (
    id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name          text NOT NULL DEFAULT '',
    email         text NOT NULL DEFAULT '',
    role          text NOT NULL CHECK (role IN ('manager', 'supervisor', 'senior', 'ops')),
    supervisor_id text REFERENCES managers (id) ON DELETE SET NULL,
    token_hash    bytea UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX managers_supervisor_idx ON managers (supervisor_id);
CREATE INDEX managers_role_idx ON managers (role, id);

CREATE TABLE accounts (
    id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    name          text NOT NULL,
    manager_id    text,
    industry      text NOT NULL DEFAULT '',
    region        text NOT NULL DEFAULT '',
    revenue       numeric(14, 2) NOT NULL DEFAULT 0,
    growth_rate   double precision NOT NULL DEFAULT 0,
    market_share  double precision NOT NULL DEFAULT 0,
    contact_name  text NOT NULL DEFAULT '',
    contact_email text NOT NULL DEFAULT '',
    stage         text NOT NULL DEFAULT 'identify' CHECK (stage IN
                      ('identify', 'engage', 'deepen', 'maintain', 'churn_recovery', 'lost', 'disqualified', 'closed')),
    tier          text NOT NULL DEFAULT 'prospect' CHECK (tier IN ('prospect', 'ordinary', 'core', 'vip')),
    health        double precision NOT NULL DEFAULT 0,
    churn_risk    double precision NOT NULL DEFAULT 0,
    value         text NOT NULL DEFAULT '' CHECK (value IN ('', 'high', 'medium', 'low')),
    potential     text NOT NULL DEFAULT '' CHECK (potential IN ('', 'high', 'medium', 'low')),
    loyalty       text NOT NULL DEFAULT '' CHECK (loyalty IN ('', 'high', 'medium', 'low')),
    outcome       text NOT NULL DEFAULT '',
    closed_reason text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    stage_since   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX accounts_manager_idx ON accounts (manager_id, name);
CREATE INDEX accounts_stage_idx ON accounts (stage);
CREATE INDEX accounts_tier_idx ON accounts (tier);

-- Values are not range-checked: a rejected event (severity 9, unknown kind)
-- is recorded as received, with the reason it was rejected.
CREATE TABLE account_events (
    id          bigserial PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    external_id text NOT NULL CHECK (external_id <> ''),
    kind        text NOT NULL,
    at          timestamptz NOT NULL,
    amount      numeric(14, 2) NOT NULL DEFAULT 0,
    severity    integer NOT NULL DEFAULT 0,
    nps         integer,
    csat        integer,
    note        text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'rejected')),
    reason      text NOT NULL DEFAULT '',
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, external_id)
);
CREATE INDEX account_events_account_at_idx ON account_events (account_id, at);

CREATE TABLE stage_transitions (
    key        text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id),
    from_stage text NOT NULL DEFAULT '',
    to_stage   text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL
);
CREATE INDEX stage_transitions_account_at_idx ON stage_transitions (account_id, at);

CREATE TABLE scores (
    key        text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id),
    at         timestamptz NOT NULL,
    value      text NOT NULL DEFAULT '',
    potential  text NOT NULL DEFAULT '',
    loyalty    text NOT NULL DEFAULT '',
    abc        text NOT NULL DEFAULT '',
    segment    text NOT NULL DEFAULT '',
    strategy   text NOT NULL DEFAULT '',
    tier       text NOT NULL CHECK (tier IN ('prospect', 'ordinary', 'core', 'vip')),
    health     double precision NOT NULL DEFAULT 0,
    churn_risk double precision NOT NULL DEFAULT 0,
    clv        numeric(14, 2) NOT NULL DEFAULT 0,
    lifecycle  text NOT NULL DEFAULT '',
    reasons    jsonb NOT NULL DEFAULT '[]',
    signals    text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX scores_account_at_idx ON scores (account_id, at);

CREATE TABLE tasks (
    id               text PRIMARY KEY,
    account_id       text NOT NULL REFERENCES accounts (id),
    kind             text NOT NULL CHECK (kind IN ('visit', 'recovery_plan', 'ack', 'follow_up')),
    assignee_id      text NOT NULL,
    title            text NOT NULL DEFAULT '',
    due_at           timestamptz NOT NULL,
    state            text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'cancelled')),
    escalation_level integer NOT NULL DEFAULT 0 CHECK (escalation_level >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    completed_by     text NOT NULL DEFAULT '',
    outcome          text NOT NULL DEFAULT '',
    notes            text NOT NULL DEFAULT ''
);
CREATE INDEX tasks_assignee_state_due_idx ON tasks (assignee_id, state, due_at);
CREATE INDEX tasks_account_idx ON tasks (account_id, created_at);

CREATE TABLE visits (
    id         text PRIMARY KEY,
    account_id text NOT NULL REFERENCES accounts (id),
    manager_id text NOT NULL,
    task_id    text NOT NULL REFERENCES tasks (id),
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    purpose    text NOT NULL DEFAULT '',
    state      text NOT NULL DEFAULT 'scheduled' CHECK (state IN ('scheduled', 'done', 'cancelled')),
    CHECK (ends_at > starts_at)
);
-- One live visit per manager and start: a backstop for the advisory lock in
-- ScheduleVisit. Cancelled visits free their slot, so they are left out.
CREATE UNIQUE INDEX visits_manager_start_key ON visits (manager_id, starts_at) WHERE state <> 'cancelled';
CREATE INDEX visits_manager_idx ON visits (manager_id, starts_at);
CREATE INDEX visits_account_idx ON visits (account_id, starts_at);
CREATE INDEX visits_task_idx ON visits (task_id);

CREATE TABLE surveys (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    kind        text NOT NULL CHECK (kind IN ('nps', 'csat')),
    token_hash  bytea NOT NULL UNIQUE,
    sent_at     timestamptz NOT NULL,
    due_at      timestamptz NOT NULL,
    answered_at timestamptz,
    recipient   text NOT NULL DEFAULT ''
);
CREATE INDEX surveys_account_idx ON surveys (account_id, sent_at);

CREATE TABLE survey_responses (
    survey_id   text PRIMARY KEY REFERENCES surveys (id),
    nps         integer CHECK (nps BETWEEN 0 AND 10),
    csat        integer CHECK (csat BETWEEN 1 AND 5),
    comment     text NOT NULL DEFAULT '',
    answered_at timestamptz NOT NULL
);

CREATE TABLE escalations (
    id              text PRIMARY KEY,
    account_id      text NOT NULL REFERENCES accounts (id),
    level           integer NOT NULL CHECK (level >= 1),
    reason          text NOT NULL DEFAULT '',
    recipient_id    text NOT NULL,
    task_id         text REFERENCES tasks (id),
    source_task_id  text REFERENCES tasks (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    acknowledged_at timestamptz
);
CREATE INDEX escalations_account_idx ON escalations (account_id, created_at);
CREATE INDEX escalations_recipient_idx ON escalations (recipient_id, created_at);
CREATE INDEX escalations_task_idx ON escalations (task_id);

-- Mail and webhook calls wait here until a sender delivers them.
-- claimed_until leases a message to one sender, so several workers can
-- drain the outbox without sending a message twice at the same time.
CREATE TABLE outbox (
    id            text PRIMARY KEY,
    channel       text NOT NULL DEFAULT 'mail' CHECK (channel IN ('mail', 'webhook')),
    recipient     text NOT NULL DEFAULT '',
    subject       text NOT NULL DEFAULT '',
    body          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    error         text NOT NULL DEFAULT '',
    attempts      integer NOT NULL DEFAULT 0,
    claimed_until timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (created_at) WHERE sent_at IS NULL;
