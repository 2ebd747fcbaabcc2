package store

import (
	"context"
	"errors"
	"io/fs"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// t0 is a fixed "now" for tests: times are whole seconds in UTC, so what
// PostgreSQL stores (microseconds) compares equal to what was written.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// newTestStore returns a migrated store on a database of its own.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Database(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.Migrate(ctx))
	return s
}

// seed adds a small organisation (senior <- sup <- m1, m2) and one account.
func seed(t *testing.T, s *Store) {
	t.Helper()
	ctx := t.Context()
	for _, m := range []Manager{
		{ID: "sen", Name: "Senior", Role: "senior"},
		{ID: "sup", Name: "Supervisor", Role: "supervisor", SupervisorID: "sen"},
		{ID: "m1", Name: "Manager One", Role: "manager", SupervisorID: "sup"},
		{ID: "m2", Name: "Manager Two", Role: "manager", SupervisorID: "sup"},
	} {
		require.NoError(t, s.UpsertManager(ctx, m))
	}
	_, err := s.UpsertAccount(ctx, Account{ID: "acme-1", Name: "Acme", ManagerID: "m1", Revenue: 1e6, CreatedAt: t0.AddDate(-1, 0, 0)})
	require.NoError(t, err)
}

func TestOpenErrorsHidePassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, url, want string
	}{
		{"unreachable URL", "postgres://kam:s3cr3t@127.0.0.1:1/kam?sslmode=disable", "connect to postgres://kam:xxxxx@127.0.0.1:1/kam"},
		{"unreachable key=value", "host=127.0.0.1 port=1 user=kam password=s3cr3t sslmode=disable", "password=xxxxx"},
		{"bad port", "postgres://kam:s3cr3t@127.0.0.1:port/kam", "database URL"},
		{"bad sslmode", "postgres://kam:s3cr3t@127.0.0.1:1/kam?sslmode=sometimes", "database URL postgres://kam:xxxxx@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Open(t.Context(), tc.url)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "s3cr3t")
		})
	}
}

func TestOpenHintsAtSSLMode(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pgtest.Database(t))
	require.NoError(t, err)
	q := u.Query()
	q.Del("sslmode") // lib/pq then requires TLS, which the test server lacks
	u.RawQuery = q.Encode()
	_, err = Open(t.Context(), u.String())
	require.ErrorContains(t, err, "add sslmode=disable")
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db":                 "postgres://u:xxxxx@h:5432/db",
		"postgres://u@h/db":                         "postgres://u@h/db",
		"host=h password='p w' dbname=d":            "host=h password=xxxxx dbname=d",
		"postgres://u:p%20w@h:x/db":                 "postgres://u:xxxxx@h:x/db",
		"host=h user=u password=secret dbname=":     "host=h user=u password=xxxxx dbname=",
		"connect to postgres://u:pw1@h/db: refused": "connect to postgres://u:xxxxx@h/db: refused",
	} {
		require.Equal(t, want, Redact(in), in)
	}
}

// TestMigrateConcurrently: workers starting together both succeed; the
// advisory lock makes one wait for the other.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.Database(t)
	stores := make([]*Store, 2)
	for i := range stores {
		s, err := Open(ctx, url)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		stores[i] = s
	}
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.NoError(t, stores[0].Migrate(ctx), "migrating again is a no-op")

	var version int64
	require.NoError(t, stores[1].db.GetContext(ctx, &version, `SELECT max(version_id) FROM goose_db_version`))
	files, err := fs.Glob(migrations, "migrations/*.sql")
	require.NoError(t, err)
	last, err := strconv.ParseInt(strings.SplitN(path.Base(files[len(files)-1]), "_", 2)[0], 10, 64)
	require.NoError(t, err)
	require.Equal(t, last, version, "every migration applied")
	require.NoError(t, stores[1].Ping(ctx))
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"Manager":            func() error { _, err := s.Manager(ctx, "nobody"); return err },
		"ManagerByTokenHash": func() error { _, err := s.ManagerByTokenHash(ctx, []byte("x")); return err },
		"SetManagerToken":    func() error { return s.SetManagerToken(ctx, "nobody", []byte("x")) },
		"Senior":             func() error { _, err := s.Senior(ctx); return err },
		"Account":            func() error { _, err := s.Account(ctx, "nope"); return err },
		"SetAccountStage":    func() error { return s.SetAccountStage(ctx, "nope", "engage", t0, "", "") },
		"SetAccountManager":  func() error { return s.SetAccountManager(ctx, "nope", "", "m1") },
		"LatestScore":        func() error { _, err := s.LatestScore(ctx, "nope"); return err },
		"Facts":              func() error { _, err := s.Facts(ctx, "nope", t0); return err },
		"Task":               func() error { _, err := s.Task(ctx, "nope"); return err },
		"CompleteTask":       func() error { _, err := s.CompleteTask(ctx, "nope", "m1", "", "", t0); return err },
		"EscalateTask":       func() error { return s.EscalateTask(ctx, "nope", 1) },
		"Visit":              func() error { _, err := s.Visit(ctx, "nope"); return err },
		"SurveyByTokenHash":  func() error { _, err := s.SurveyByTokenHash(ctx, []byte("x")); return err },
		"AnswerSurvey":       func() error { _, err := s.AnswerSurvey(ctx, []byte("x"), Response{}, t0); return err },
		"MarkMailSent":       func() error { return s.MarkMailSent(ctx, "nope", nil) },
		"MarkMailFailed":     func() error { return s.MarkMailSent(ctx, "nope", errors.New("smtp down")) },
	} {
		require.ErrorIs(t, call(), ErrNotFound, name)
	}
}
