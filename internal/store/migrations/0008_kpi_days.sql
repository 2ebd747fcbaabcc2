-- Day rollups of the portfolio's additive figures over what kamflow writes
-- at the pace of people, for a report on every account: done tasks by
-- completion day and kind (SLA), and the answers to kamflow's surveys by
-- answer day (NPS and CSAT). A year of them is 365 rows a figure instead of
-- every row of the year (230,000 done tasks and 55,000 answers on 100,000
-- accounts), so kpis.go reads the whole UTC days of a period here and only
-- the rest of it from the rows, as it does for a report on some managers'
-- accounts (the rollups are not by manager). The answers operations feed
-- as events are read from their rows (account_events_fed_answers_idx): the
-- events table takes the fast feeds, and a trigger there slowed recording
-- them while they raced for the day's rollup row.
--
-- Triggers keep the rollups: every insert, update and delete of a counted
-- row takes its old contribution off its day and adds its new one, in the
-- writer's transaction, so a rollup is always the sum of the rows it
-- summarises, whoever writes them (kamflow, the seeder, an operator's
-- fix). They run once per statement, over its rows (transition tables), so
-- a bulk write costs one upsert per day it touches; upserting in key order
-- keeps concurrent writers from deadlocking. A day can go back to zero and
-- stay; readers skip those. PL/pgSQL plans a statement when it first runs
-- it, so a trigger never plans the branch over a transition table it lacks.
--
-- The backfill runs after the triggers exist, in this migration's
-- transaction, which creating them has locked against writes.

-- +goose Up

CREATE TABLE kpi_sla_days (
    day       date NOT NULL,
    kind      text NOT NULL,
    completed integer NOT NULL,
    within    integer NOT NULL,
    PRIMARY KEY (day, kind)
);

CREATE TABLE kpi_answer_days (
    day            date PRIMARY KEY,
    nps_responses  integer NOT NULL,
    promoters      integer NOT NULL,
    passives       integer NOT NULL,
    detractors     integer NOT NULL,
    csat_responses integer NOT NULL,
    csat_sum       integer NOT NULL
);

-- Done tasks count on the UTC day they were completed, within their SLA
-- when completed by their due time (kpis.go's definition of "sla"); sign
-- is 1 or -1.
-- +goose StatementBegin
CREATE FUNCTION kpi_sla_days_add(completed_ats timestamptz[], due_ats timestamptz[], kinds text[], sign integer) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO kpi_sla_days AS d (day, kind, completed, within)
    SELECT (t.completed_at AT TIME ZONE 'UTC')::date, t.kind, sign * count(*), sign * count(*) FILTER (WHERE t.completed_at <= t.due_at)
    FROM unnest(completed_ats, due_ats, kinds) t (completed_at, due_at, kind)
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (day, kind) DO UPDATE SET completed = d.completed + excluded.completed, within = d.within + excluded.within
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION kpi_sla_days_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        PERFORM kpi_sla_days_add(array_agg(completed_at), array_agg(due_at), array_agg(kind), 1)
        FROM new_rows WHERE state = 'done' AND completed_at IS NOT NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM kpi_sla_days_add(array_agg(completed_at), array_agg(due_at), array_agg(kind), -1)
        FROM old_rows WHERE state = 'done' AND completed_at IS NOT NULL;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER tasks_kpi_sla_days_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kpi_sla_days_count();
CREATE TRIGGER tasks_kpi_sla_days_update AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kpi_sla_days_count();
CREATE TRIGGER tasks_kpi_sla_days_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kpi_sla_days_count();

-- Answers to kamflow's surveys count on the UTC day they were given; sign
-- is 1 or -1.
-- +goose StatementBegin
CREATE FUNCTION kpi_answer_days_add(answered_ats timestamptz[], nps_scores integer[], csat_scores integer[], sign integer) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO kpi_answer_days AS d (day, nps_responses, promoters, passives, detractors, csat_responses, csat_sum)
    SELECT (a.at AT TIME ZONE 'UTC')::date, sign * count(a.nps), sign * count(*) FILTER (WHERE a.nps >= 9),
        sign * count(*) FILTER (WHERE a.nps BETWEEN 7 AND 8), sign * count(*) FILTER (WHERE a.nps <= 6),
        sign * count(a.csat), sign * COALESCE(sum(a.csat), 0)
    FROM unnest(answered_ats, nps_scores, csat_scores) a (at, nps, csat)
    GROUP BY 1 ORDER BY 1
    ON CONFLICT (day) DO UPDATE SET nps_responses = d.nps_responses + excluded.nps_responses,
        promoters = d.promoters + excluded.promoters, passives = d.passives + excluded.passives,
        detractors = d.detractors + excluded.detractors, csat_responses = d.csat_responses + excluded.csat_responses,
        csat_sum = d.csat_sum + excluded.csat_sum
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION kpi_answer_days_count_response() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        PERFORM kpi_answer_days_add(array_agg(answered_at), array_agg(nps), array_agg(csat), 1) FROM new_rows;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM kpi_answer_days_add(array_agg(answered_at), array_agg(nps), array_agg(csat), -1) FROM old_rows;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER survey_responses_kpi_answer_days_insert AFTER INSERT ON survey_responses REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kpi_answer_days_count_response();
CREATE TRIGGER survey_responses_kpi_answer_days_update AFTER UPDATE ON survey_responses
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kpi_answer_days_count_response();
CREATE TRIGGER survey_responses_kpi_answer_days_delete AFTER DELETE ON survey_responses REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kpi_answer_days_count_response();

-- What the triggers would have written for the rows already recorded.
SELECT kpi_sla_days_add(array_agg(completed_at), array_agg(due_at), array_agg(kind), 1)
FROM tasks WHERE state = 'done' AND completed_at IS NOT NULL;
SELECT kpi_answer_days_add(array_agg(answered_at), array_agg(nps), array_agg(csat), 1) FROM survey_responses;
