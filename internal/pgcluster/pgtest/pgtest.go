// Package pgtest gives every test its own empty PostgreSQL database, from one
// server per test binary: store and activity tests run against the real
// thing (no mocks) without paying a server start per test.
//
// The server is a private pgcluster started by Main, or, when
// KAM_TEST_PG_URL is set, the cluster behind that URL (make test starts one
// for all packages, so test binaries do not each initdb). KAM_TEST_PG_URL
// must name an admin database of a superuser, e.g.
// postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lib/pq"

	"github.com/kamflow/kamflow/internal/pgcluster"
)

// EnvURL names the variable holding an admin URL of an existing cluster.
const EnvURL = "KAM_TEST_PG_URL"

var shared struct {
	sync.Mutex
	adminURL string
	admin    *sql.DB
}

// Main runs the package's tests with a PostgreSQL server available and
// exits; call it as TestMain's only statement. The after funcs run once the
// tests are done, before the server stops (e.g. testenv.Stop).
func Main(m *testing.M, after ...func()) {
	os.Exit(run(m, after))
}

func run(m *testing.M, after []func()) int {
	stop, err := server()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	code := m.Run()
	for _, f := range after {
		f()
	}
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// server connects to KAM_TEST_PG_URL or starts a private cluster, and
// returns how to let go of it.
func server() (stop func() error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	release := func() error { return nil }
	defer func() {
		if err != nil {
			err = errors.Join(err, release())
		}
	}()
	adminURL := os.Getenv(EnvURL)
	if adminURL == "" {
		dir, err := os.MkdirTemp("", "kamflow-pgtest-")
		if err != nil {
			return nil, fmt.Errorf("create cluster directory: %w", err)
		}
		release = func() error { return os.RemoveAll(dir) }
		// Searchable by the server's user when tests run as root, so the
		// data stays inside dir and goes away with it.
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, fmt.Errorf("chmod %s: %w", dir, err)
		}
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		c, err := pgcluster.Start(ctx, pgcluster.Options{Dir: dir, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("%w (or set %s to an existing cluster)", err, EnvURL)
		}
		adminURL = c.URL("postgres")
		release = func() error { return errors.Join(c.Destroy(), os.RemoveAll(dir)) }
	}
	connector, err := pq.NewConnector(adminURL)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", EnvURL, redact(adminURL), err)
	}
	admin := sql.OpenDB(connector)
	if err := admin.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("connect to %s: %w", redact(adminURL), err), admin.Close())
	}
	shared.Lock()
	shared.adminURL, shared.admin = adminURL, admin
	shared.Unlock()
	return func() error { return errors.Join(admin.Close(), release()) }, nil
}

// Database creates an empty database for t, drops it when t ends, and
// returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	shared.Lock()
	adminURL, admin := shared.adminURL, shared.admin
	shared.Unlock()
	if admin == nil {
		t.Fatal("pgtest.Database: no server: call pgtest.Main(m) from TestMain")
	}
	name := databaseName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pgcluster.CreateDatabaseOn(ctx, admin, name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// A test database is dropped when its test ends, so the last commits
	// before a crash are worth nothing: commits skip waiting for the WAL
	// flush. The cluster itself (and every real database) stays durable.
	if _, err := admin.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(name)+" SET synchronous_commit TO off"); err != nil {
		t.Fatalf("pgtest: configure database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// The test's context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pgcluster.DropDatabaseOn(ctx, admin, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	u, err := withDatabase(adminURL, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// databaseName turns a test name into a valid, unique database name: a
// readable prefix for whoever lists databases of a stuck run, and a random
// suffix because names repeat across -count runs and packages.
func databaseName(test string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix) // crypto/rand.Read never fails on Linux
	return b.String() + "_" + hex.EncodeToString(suffix)
}

// withDatabase points an admin URL (URL or key=value form) at dbname.
func withDatabase(adminURL, dbname string) (string, error) {
	if strings.Contains(adminURL, "://") {
		u, err := url.Parse(adminURL)
		if err != nil {
			return "", fmt.Errorf("parse %s: %s", EnvURL, redact(adminURL))
		}
		u.Path = "/" + dbname
		return u.String(), nil
	}
	// key=value: the last dbname wins in lib/pq.
	return adminURL + " dbname=" + dbname, nil
}

// redact hides a password in a connection string for error messages, also
// in one url.Parse rejects.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	s = urlPassword.ReplaceAllString(s, "${1}xxxxx@")
	return kvPassword.ReplaceAllString(s, "${1}xxxxx")
}

var (
	urlPassword = regexp.MustCompile(`^([a-z]+://[^:/@]*:)[^@]*@`)
	kvPassword  = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)
)
