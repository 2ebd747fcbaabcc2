package devstack

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/kamflow/kamflow/internal/codec"
	"github.com/kamflow/kamflow/internal/pgcluster"
)

// Options configures the dev stack.
type Options struct {
	// DataDir keeps the Temporal SQLite file, the PostgreSQL cluster, the
	// generated secrets and dev.env. Created when missing.
	DataDir string
	// DatabaseURL, when set, is used instead of a private cluster.
	DatabaseURL string
	// TemporalOnPostgres keeps Temporal's data in the private cluster
	// (databases temporal and temporal_visibility) instead of the SQLite
	// file; it needs the cluster, so DatabaseURL must be empty.
	TemporalOnPostgres bool
	TemporalPort       int
	UIPort             int
	SearchAttributes   map[string]enumspb.IndexedValueType
	// CodecEndpoint is the worker's /codec URL; the UI decrypts payloads
	// through it.
	CodecEndpoint string
	// EncryptionKeys are the payload keys in use (KAM_ENCRYPTION_KEYS form).
	// Empty means a dev key, generated in DataDir on first use and kept.
	EncryptionKeys string
	Logger         *slog.Logger
}

// Stack is a running dev stack.
type Stack struct {
	temporal *Temporal
	pg       *pgcluster.Cluster
	lock     *os.File
	// DatabaseURL is kamflow's database; AdminDatabaseURL the cluster's
	// maintenance database, from which tests create their own (empty when
	// DATABASE_URL was given).
	DatabaseURL      string
	AdminDatabaseURL string
	TemporalAddress  string
	UIURL            string
	// EncryptionKeys is Options.EncryptionKeys, or the dev key when that
	// was empty.
	EncryptionKeys string
}

// DevEnvFile is where the stack writes the addresses a local `starter`
// picks up when TEMPORAL_ADDRESS and DATABASE_URL are not set, and the
// payload keys it needs to read what the worker encrypted.
const DevEnvFile = "dev.env"

// DevKeyFile keeps the generated dev payload key, so histories written
// before a restart still decrypt after it.
const DevKeyFile = "encryption.keys"

// Start brings the stack up. On error everything it started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.TemporalOnPostgres && opts.DatabaseURL != "" {
		return nil, errors.New("temporal on PostgreSQL uses the dev stack's private cluster, which a database URL turns off: give one or the other")
	}
	s := &Stack{}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if s.lock, err = lockDataDir(opts.DataDir); err != nil {
		return nil, err
	}
	s.EncryptionKeys = opts.EncryptionKeys
	if s.EncryptionKeys == "" {
		if s.EncryptionKeys, err = DevEncryptionKeys(filepath.Join(opts.DataDir, DevKeyFile)); err != nil {
			return nil, err
		}
	}
	s.DatabaseURL = opts.DatabaseURL
	if s.DatabaseURL == "" {
		s.pg, err = pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(opts.DataDir, "pg"), Logger: opts.Logger})
		if err != nil {
			return nil, err
		}
		if s.DatabaseURL, err = s.pg.EnsureDatabase(ctx, "kamflow"); err != nil {
			return nil, err
		}
		s.AdminDatabaseURL = s.pg.URL("postgres")
	}
	topts := TemporalOptions{
		FrontendPort:     opts.TemporalPort,
		UIPort:           opts.UIPort,
		DatabaseFile:     filepath.Join(opts.DataDir, "temporal.db"),
		Namespace:        "default",
		SearchAttributes: opts.SearchAttributes,
		CodecEndpoint:    opts.CodecEndpoint,
	}
	if opts.TemporalOnPostgres {
		topts.Postgres = &PostgresStore{}
		if topts.Postgres.URL, err = s.pg.EnsureDatabase(ctx, "temporal"); err != nil {
			return nil, err
		}
		if topts.Postgres.VisibilityURL, err = s.pg.EnsureDatabase(ctx, "temporal_visibility"); err != nil {
			return nil, err
		}
	}
	s.temporal, err = StartTemporal(topts)
	if err != nil {
		return nil, err
	}
	s.TemporalAddress, s.UIURL = s.temporal.Address, s.temporal.UIURL
	env := fmt.Sprintf("TEMPORAL_ADDRESS=%s\nDATABASE_URL=%s\nKAM_ENCRYPTION_KEYS=%s\n", s.TemporalAddress, s.DatabaseURL, s.EncryptionKeys)
	if err := os.WriteFile(filepath.Join(opts.DataDir, DevEnvFile), []byte(env), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", DevEnvFile, err)
	}
	return s, nil
}

// Stop stops Temporal, then PostgreSQL, and releases the data folder.
func (s *Stack) Stop() {
	if s.temporal != nil {
		s.temporal.Stop()
		s.temporal = nil
	}
	if s.pg != nil {
		if err := s.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop postgresql:", err)
		}
		s.pg = nil
	}
	if s.lock != nil {
		// Closing the file releases the flock; the lock file itself stays.
		_ = s.lock.Close()
		s.lock = nil
	}
}

// lockDataDir creates dir when missing and takes an exclusive lock on it, so
// two dev stacks never share one SQLite file and one cluster.
func lockDataDir(dir string) (*os.File, error) {
	// 0711: the PostgreSQL user (not us when we are root) must reach pg/ inside.
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("create data folder %s: %w (choose another with --data-dir)", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dir, err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() != 0 && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("data folder %s belongs to uid %d, not to you (uid %d): run as its owner, chown it, or choose another with --data-dir", dir, st.Uid, os.Geteuid())
	}
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data folder %s is not writable: %w (run as its owner or choose another with --data-dir)", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner, _ := os.ReadFile(path) // best effort: only used in the message
		f.Close()
		return nil, fmt.Errorf("data folder %s is in use by another worker --dev (pid %s): stop it first, or choose another with --data-dir", dir, strings.TrimSpace(string(owner)))
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return f, nil
}

// Secret reads a dev secret from path, creating it with 32 random bytes on
// first use, so tokens stay valid across restarts of the dev stack.
func Secret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read dev secret %s: %w", path, err)
	}
	secret := []byte(rand.Text())
	if err := os.WriteFile(path, secret, 0o600); err != nil {
		return nil, fmt.Errorf("write dev secret %s: %w", path, err)
	}
	return secret, nil
}

// DevEncryptionKeys reads the dev payload key list from path, creating it
// with one fresh AES-256 key on first use. The key id carries a random
// suffix, so payloads from another data folder's stack fail with "unknown
// key" instead of an authentication error.
func DevEncryptionKeys(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		keys := strings.TrimSpace(string(b))
		if _, err := codec.ParseKeys(keys); err != nil {
			return "", fmt.Errorf("dev encryption keys %s: %w (delete the file to start over: payloads it sealed become unreadable)", path, err)
		}
		return keys, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read dev encryption keys %s: %w", path, err)
	}
	keys, err := codec.GenerateKeys("dev-" + strings.ToLower(rand.Text()[:8]))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(keys+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write dev encryption keys %s: %w", path, err)
	}
	return keys, nil
}
