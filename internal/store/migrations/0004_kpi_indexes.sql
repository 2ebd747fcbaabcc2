-- Indexes of the portfolio's KPI statements (kpis.go). Each figure reads a
-- period [from, to) of one table, so each table gets an index on the time
-- its figure is bounded by; the per-account probes ("the last stage change
-- or score before the period") get covering indexes, so they never visit
-- the table. On 100,000 accounts and a million events these take a few
-- seconds to build, during which writes to these tables wait.

-- +goose Up

-- Stage changes from the period's start on (funnel, retention, win-back),
-- and the customers whose stage has not changed since (retention).
CREATE INDEX stage_transitions_at_idx ON stage_transitions (at) INCLUDE (account_id, key, from_stage, to_stage);
CREATE INDEX accounts_stage_since_idx ON accounts (stage, stage_since) INCLUDE (manager_id);
-- The scores of the period and each account's last score before it (tier
-- movement), without reading the wide rows.
CREATE INDEX scores_at_idx ON scores (at) INCLUDE (account_id, key, tier);
CREATE INDEX scores_account_at_key_idx ON scores (account_id, at, key) INCLUDE (tier);
-- Answers given, surveys sent and escalations raised in the period.
CREATE INDEX survey_responses_answered_idx ON survey_responses (answered_at);
CREATE INDEX surveys_answered_idx ON surveys (answered_at) INCLUDE (account_id)
    WHERE answered_at IS NOT NULL;
CREATE INDEX surveys_sent_idx ON surveys (sent_at) INCLUDE (answered_at, due_at, account_id);
CREATE INDEX account_events_survey_at_idx ON account_events (at) INCLUDE (account_id, external_id, nps, csat)
    WHERE kind = 'survey_response' AND status = 'applied';
CREATE INDEX escalations_created_idx ON escalations (created_at) INCLUDE (level, acknowledged_at, account_id);
-- Live accounts by churn risk, riskiest first, with what the risk bands
-- count them by.
CREATE INDEX accounts_live_risk_idx ON accounts (churn_risk DESC, id) INCLUDE (tier, manager_id)
    WHERE stage NOT IN ('lost', 'disqualified', 'closed');
-- Open tasks by assignee, and tasks done in the period with their due
-- times (share within SLA), without reading the task rows.
CREATE INDEX tasks_open_assignee_idx ON tasks (assignee_id, due_at) INCLUDE (created_at, account_id)
    WHERE state = 'open';
CREATE INDEX tasks_done_completed_idx ON tasks (completed_at) INCLUDE (kind, due_at, account_id)
    WHERE state = 'done';
