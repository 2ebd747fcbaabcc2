-- Each stage change and each score carries what came before it for its
-- account, so the KPI statements (kpis.go) read a period's rows alone
-- instead of pairing every row with its neighbour (window functions over
-- the period, or a probe per account for the row before it):
--   stage_transitions.entered_at: when the stay this transition ends began,
--     i.e. the at of the account's previous transition; NULL for its first.
--   scores.prev_at, prev_tier: the account's previous score's time and tier;
--     '-infinity' and '' for its first, so that "the first score in a
--     period" is one index range (at from the period's start, prev_at
--     before it) rather than two.
-- "Previous" is in (at, key) order, the order Transitions and LatestScore
-- use. RecordTransition and InsertScore fill the columns and keep them
-- right when a row is recorded late, before rows already stored.
--
-- The backfill rewrites both tables once: on 100,000 accounts (300,000
-- transitions, 700,000 scores) this migration took 80 seconds on two busy
-- cores, during which writes to them wait. Autovacuum then finds every row
-- updated and vacuums both, which index-only scans wait for to be fast
-- again; the statistics are taken here, for the planner to know the new
-- columns from the start.

-- +goose Up

ALTER TABLE stage_transitions ADD COLUMN entered_at timestamptz;
UPDATE stage_transitions t SET entered_at = p.prev_at
FROM (SELECT key, lag(at) OVER (PARTITION BY account_id ORDER BY at, key) AS prev_at FROM stage_transitions) p
WHERE p.key = t.key AND p.prev_at IS NOT NULL;

ALTER TABLE scores ADD COLUMN prev_at timestamptz NOT NULL DEFAULT '-infinity',
    ADD COLUMN prev_tier text NOT NULL DEFAULT '';
UPDATE scores s SET prev_at = p.prev_at, prev_tier = p.prev_tier
FROM (SELECT key, lag(at) OVER w AS prev_at, lag(tier) OVER w AS prev_tier FROM scores
      WINDOW w AS (PARTITION BY account_id ORDER BY at, key)) p
WHERE p.key = s.key AND p.prev_at IS NOT NULL;

-- Stays that ended in the period by the stage they were in (funnel,
-- win-back), and the stays open at the period's start or end (retention):
-- one index range per stage, in stage order.
CREATE INDEX stage_transitions_from_at_idx ON stage_transitions (from_stage, at)
    INCLUDE (account_id, to_stage, entered_at);
-- Moves into each stage in the period (funnel, acquisition).
CREATE INDEX stage_transitions_to_at_idx ON stage_transitions (to_stage, at) INCLUDE (account_id, from_stage);
DROP INDEX stage_transitions_at_idx;

-- Each account's first score in the period, and its first after it (tier
-- movement).
CREATE INDEX scores_at_prev_idx ON scores (at, prev_at) INCLUDE (account_id, prev_tier);
DROP INDEX scores_at_idx;

-- A team's accounts (every statement of a team's report), the accounts in
-- an end stage now (retention) and every account's current tier (tier
-- movement), without reading the account rows, from indexes narrow enough
-- that the planner takes them over the table.
DROP INDEX accounts_manager_idx;
CREATE INDEX accounts_manager_idx ON accounts (manager_id, name) INCLUDE (id);
DROP INDEX accounts_stage_idx;
CREATE INDEX accounts_stage_idx ON accounts (stage) INCLUDE (id);
DROP INDEX accounts_tier_idx;
CREATE INDEX accounts_tier_idx ON accounts (tier) INCLUDE (id);

-- Answers given in the period with their scores; the surveys answered in
-- it, for a team's report.
DROP INDEX survey_responses_answered_idx;
CREATE INDEX survey_responses_answered_idx ON survey_responses (answered_at) INCLUDE (nps, csat);
DROP INDEX surveys_answered_idx;
CREATE INDEX surveys_answered_idx ON surveys (answered_at) INCLUDE (account_id, id)
    WHERE answered_at IS NOT NULL;

ANALYZE stage_transitions, scores, accounts, surveys, survey_responses;
