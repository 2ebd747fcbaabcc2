package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/kamflow/kamflow/internal/metrics"
)

// Level queries. Each is a GROUP BY over a small, indexed slice of a table,
// run every few seconds by every worker (the collector caches for its TTL).
const (
	levelAccountsSQL = `SELECT stage, tier, count(*) FROM accounts GROUP BY stage, tier`
	// Overdue means past due now; a task due this very instant is not yet late.
	levelOpenTasksSQL = `SELECT kind, due_at < $1 AS overdue, count(*) FROM tasks
WHERE state = 'open' GROUP BY kind, due_at < $1`
	// An unanswered survey expires at due_at: AnswerSurvey accepts an answer
	// only while due_at > now, so expired here means it can no longer be answered.
	levelSurveysSQL = `SELECT
    count(*) FILTER (WHERE answered_at IS NULL AND due_at > $1),
    count(*) FILTER (WHERE answered_at IS NOT NULL),
    count(*) FILTER (WHERE answered_at IS NULL AND due_at <= $1)
FROM surveys`
	levelOutboxSQL  = `SELECT count(*) FROM outbox WHERE sent_at IS NULL`
	levelImportsSQL = `SELECT COALESCE(sum(started), 0), COALESCE(sum(existing), 0), COALESCE(sum(failed), 0) FROM import_runs`
)

// Levels reads the level gauges of kamflow's record as of now: accounts by
// stage and tier, open tasks by kind and overdue state, surveys by state and
// the unsent outbox. All four are read in one read-only snapshot, so they
// agree with each other. It implements metrics.LevelSource.
func (s *Store) Levels(ctx context.Context, now time.Time) (l metrics.Levels, err error) {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return l, fmt.Errorf("read levels: begin: %w", err)
	}
	defer func() {
		// A read-only transaction has nothing to keep; Rollback ends it
		// either way, and its error only matters when nothing else failed.
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) && err == nil {
			err = fmt.Errorf("read levels: end transaction: %w", rbErr)
		}
	}()

	err = eachRow(ctx, tx, levelAccountsSQL, nil, func(rows *sql.Rows) error {
		var a metrics.AccountCount
		err := rows.Scan(&a.Stage, &a.Tier, &a.N)
		l.Accounts = append(l.Accounts, a)
		return err
	})
	if err != nil {
		return l, fmt.Errorf("read levels: accounts: %w", err)
	}
	err = eachRow(ctx, tx, levelOpenTasksSQL, []any{now}, func(rows *sql.Rows) error {
		var t metrics.TaskCount
		err := rows.Scan(&t.Kind, &t.Overdue, &t.N)
		l.OpenTasks = append(l.OpenTasks, t)
		return err
	})
	if err != nil {
		return l, fmt.Errorf("read levels: open tasks: %w", err)
	}
	sv := &l.Surveys
	if err := tx.QueryRowContext(ctx, levelSurveysSQL, now).Scan(&sv.Pending, &sv.Answered, &sv.Expired); err != nil {
		return l, fmt.Errorf("read levels: surveys: %w", err)
	}
	if err := tx.QueryRowContext(ctx, levelOutboxSQL).Scan(&l.OutboxPending); err != nil {
		return l, fmt.Errorf("read levels: outbox: %w", err)
	}
	im := &l.ImportRows
	if err := tx.QueryRowContext(ctx, levelImportsSQL).Scan(&im.Started, &im.Existing, &im.Failed); err != nil {
		return l, fmt.Errorf("read levels: imports: %w", err)
	}
	return l, nil
}

// eachRow runs query and calls scan for every row, closing the rows
// whatever happens.
func eachRow(ctx context.Context, tx *sqlx.Tx, query string, args []any, scan func(*sql.Rows) error) (err error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, rows.Close()) }()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// The store is the worker's level source.
var _ metrics.LevelSource = (*Store)(nil)
