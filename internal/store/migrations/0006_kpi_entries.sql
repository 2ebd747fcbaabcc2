-- Each stage change carries three more facts about its account's other
-- stage changes, so the funnel and acquisition (kpis.go) count a period's
-- moves into each stage from one index range, instead of grouping the
-- period's moves by account (a hash of every account that moved, 90 ms of
-- a 365-day report's CPU on 100,000 accounts):
--   prev_entry_at: the at of the account's previous move into the same
--     stage, in (at, key) order; NULL for its first. A move in [from, to)
--     whose prev_entry_at is before from (or NULL) is the account's first
--     move into the stage in the period: counting those counts each account
--     once per stage.
--   next_up_at: for a move into identify, engage or deepen, the earliest at,
--     at or after its own, of the account's moves into the next stage of
--     the ladder (engage, deepen, maintain); NULL when there is none, and
--     for the other stages. The account's first move into a stage in the
--     period converted when this is before to.
--   deepen_at: for an onboarding (a move from no stage), the earliest at,
--     at or after its own, of the account's moves into deepen; NULL when
--     there is none, and for every other move. An account onboarded in the
--     period was acquired when this is before to.
-- RecordTransition fills them and keeps them right when a row is recorded
-- late; a retried row changes nothing.
--
-- The backfill rewrites the table's rows once (on 300,000 transitions, a
-- few seconds), during which writes to it wait.

-- +goose Up

ALTER TABLE stage_transitions ADD COLUMN prev_entry_at timestamptz, ADD COLUMN next_up_at timestamptz,
    ADD COLUMN deepen_at timestamptz;
UPDATE stage_transitions t SET prev_entry_at = p.prev_entry_at, next_up_at = p.next_up_at, deepen_at = p.deepen_at
FROM (SELECT key,
        lag(at) OVER (PARTITION BY account_id, to_stage ORDER BY at, key) AS prev_entry_at,
        CASE to_stage
            WHEN 'identify' THEN min(at) FILTER (WHERE to_stage = 'engage') OVER later
            WHEN 'engage' THEN min(at) FILTER (WHERE to_stage = 'deepen') OVER later
            WHEN 'deepen' THEN min(at) FILTER (WHERE to_stage = 'maintain') OVER later
        END AS next_up_at,
        CASE WHEN from_stage = '' THEN min(at) FILTER (WHERE to_stage = 'deepen') OVER later END AS deepen_at
      FROM stage_transitions
      -- Every row of the account at or after this one's time, ties
      -- included, whatever their keys.
      WINDOW later AS (PARTITION BY account_id ORDER BY at DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) p
WHERE p.key = t.key AND COALESCE(p.prev_entry_at, p.next_up_at, p.deepen_at) IS NOT NULL;

-- The moves into each stage in the period with these facts (funnel,
-- acquisition), read without visiting the table.
DROP INDEX stage_transitions_to_at_idx;
CREATE INDEX stage_transitions_to_at_idx ON stage_transitions (to_stage, at)
    INCLUDE (account_id, from_stage, prev_entry_at, next_up_at, deepen_at);

-- Whether a survey_response event records the answer to one of kamflow's
-- surveys (satisfaction) is one probe per event by survey id: a hash index
-- answers it from one page where the primary key's B-tree descends three.
CREATE INDEX surveys_id_hash_idx ON surveys USING hash (id);

-- Live accounts by tier and churn risk: each cell of the risk bands is one
-- range of it.
CREATE INDEX accounts_live_tier_risk_idx ON accounts (tier, churn_risk)
    WHERE stage NOT IN ('lost', 'disqualified', 'closed');

ANALYZE stage_transitions, surveys, accounts;
