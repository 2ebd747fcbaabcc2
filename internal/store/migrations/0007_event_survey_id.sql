-- A survey_response event that records the answer to one of kamflow's
-- surveys (its external id is the survey's id, or "survey:" and the id, and
-- the survey is its account's: the answer page sends one for every answer)
-- names that survey in survey_id. The answer already counts from
-- survey_responses, so scoring and the portfolio skip such events; with the
-- link on the row they skip them by a column instead of looking every event
-- up in surveys (a year of a 100,000-account record with those events is
-- 89,000 probes: the 365-day answer count took 370 to 450 ms, by the
-- column 40).
-- InsertEvents fills it as an event is recorded and CreateSurvey for events
-- recorded before their survey, so the order they come in does not matter;
-- only an event and its survey committed at the same moment could miss
-- each other, and nothing sends an answer for a survey not yet stored.

-- +goose Up

ALTER TABLE account_events ADD COLUMN survey_id text REFERENCES surveys (id);
UPDATE account_events e SET survey_id = s.id
FROM surveys s
WHERE e.kind = 'survey_response' AND s.account_id = e.account_id AND e.external_id IN (s.id, 'survey:' || s.id);

-- The answers operations feed, by time: what the portfolio counts. The
-- survey-id hash index served only the probes this replaces.
DROP INDEX account_events_survey_at_idx;
DROP INDEX surveys_id_hash_idx;
CREATE INDEX account_events_fed_answers_idx ON account_events (at) INCLUDE (account_id, nps, csat)
    WHERE kind = 'survey_response' AND status = 'applied' AND survey_id IS NULL;

ANALYZE account_events;
