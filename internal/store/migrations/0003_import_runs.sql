-- +goose Up
-- One row per `starter import` run: the import-row counters a Prometheus
-- scrape reports come from here, so they are the same on every worker and
-- survive restarts (a counter in the starter's own process would vanish with it).
CREATE TABLE import_runs (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    file     text NOT NULL,
    started  integer NOT NULL CHECK (started >= 0),
    existing integer NOT NULL CHECK (existing >= 0),
    failed   integer NOT NULL CHECK (failed >= 0)
);
