// Package store is kamflow's PostgreSQL record: accounts, their events,
// stage transitions, scores, tasks, visits, surveys, escalations and the mail
// outbox. Temporal owns the lifecycle; this package owns what inboxes, lists,
// timelines and dashboards read.
//
// Every write is keyed by the workflow's idempotency key and is safe to
// repeat: an activity retry gets back the row the first attempt stored,
// never a second row.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrNotFound means the row asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrSurveyAnswered means the survey link was already used.
	ErrSurveyAnswered = errors.New("survey already answered")
	// ErrSurveyExpired means the survey's answer window has passed.
	ErrSurveyExpired = errors.New("survey expired")
	// ErrTaskClosed means the task is done or cancelled and the caller is not
	// repeating its own completion.
	ErrTaskClosed = errors.New("task is not open")
	// ErrNoSlot means no candidate visit slot was free.
	ErrNoSlot = errors.New("no free visit slot")
)

// Store is the PostgreSQL record. It is safe for concurrent use.
type Store struct {
	db *sqlx.DB
}

//go:embed migrations/*.sql
var migrations embed.FS

// Open connects to the database at url and checks it answers. The password
// never appears in its errors.
func Open(ctx context.Context, url string) (*Store, error) {
	connector, err := pq.NewConnector(url)
	if err != nil {
		return nil, fmt.Errorf("database URL %s: %w", Redact(url), redactErr(err, url))
	}
	db := sql.OpenDB(connector)
	// Activities, the API and the outbox share one pool per process; a
	// bounded pool keeps many workers within the server's max_connections.
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(5)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		hint := ""
		if strings.Contains(err.Error(), "SSL is not enabled on the server") {
			// lib/pq defaults to sslmode=require; local servers rarely have TLS.
			hint = " (add sslmode=disable to the URL for a server without TLS)"
		}
		return nil, errors.Join(fmt.Errorf("connect to %s: %w%s", Redact(url), redactErr(err, url), hint), db.Close())
	}
	return &Store{db: sqlx.NewDb(db, "postgres")}, nil
}

// Ping checks the database answers, for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// Migrate applies the embedded migrations that are not applied yet. Several
// workers may start at once: a PostgreSQL advisory lock lets one migrate
// while the others wait, then find nothing left to do.
func (s *Store) Migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// Poll the lock every second for up to 5 minutes (goose's default polls
	// every 5 seconds, which makes every concurrent start 5 seconds slower).
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, s.db.DB, fsys,
		goose.WithSessionLocker(locker), goose.WithLogger(goose.NopLogger()))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	return nil
}

// Redact returns a connection string (URL or key=value form), or a message
// quoting one, with the password replaced, for logs and errors.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.User != nil {
		return u.Redacted()
	}
	return redactPassword(dsn, password(dsn))
}

var (
	urlPassword = regexp.MustCompile(`[a-z][a-z0-9+.-]*://[^:/@\s]*:([^@\s]*)@`)
	kvPassword  = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)
)

// password finds the password in a connection string, even one url.Parse
// rejects: such a string still must not be echoed.
func password(dsn string) string {
	if m := urlPassword.FindStringSubmatch(dsn); m != nil {
		return m[1]
	}
	if m := kvPassword.FindStringSubmatch(dsn); m != nil {
		return m[1]
	}
	return ""
}

func redactPassword(msg, pw string) string {
	if pw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, pw, "xxxxx")
	if esc, err := url.PathUnescape(pw); err == nil && esc != pw {
		msg = strings.ReplaceAll(msg, esc, "xxxxx")
	}
	return msg
}

// redactErr hides the password in a driver error's text (lib/pq quotes the
// whole URL when it cannot parse it) while errors.Is and errors.As still see
// the original.
func redactErr(err error, dsn string) error {
	return &redactedError{msg: redactPassword(err.Error(), password(dsn)), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// notFound maps sql.ErrNoRows to ErrNotFound with context.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// queryer is what both *sqlx.DB and *sqlx.Tx offer, so helpers run in or
// out of a transaction.
type queryer interface {
	sqlx.QueryerContext
	sqlx.ExecerContext
}

// insertOrGet runs an INSERT ... ON CONFLICT DO NOTHING RETURNING into dest,
// and when the row already existed reads the stored one instead: a retry
// gets what the first attempt wrote, even if it now sends other values.
func insertOrGet(ctx context.Context, q queryer, dest any, insert string, insertArgs []any, get string, key any) error {
	err := sqlx.GetContext(ctx, q, dest, insert, insertArgs...)
	if errors.Is(err, sql.ErrNoRows) {
		err = sqlx.GetContext(ctx, q, dest, get, key)
	}
	return err
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				err = errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
			}
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// nullTime stores the zero time as NULL, so "not set" lets the column
// default or COALESCE decide.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// likePattern makes a user's search text match literally inside ILIKE.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}

// limit turns "0 = no limit" into SQL's NULL, which LIMIT reads as "all".
func limit(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}

// mustAffect turns an UPDATE that matched nothing into ErrNotFound.
func mustAffect(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}
