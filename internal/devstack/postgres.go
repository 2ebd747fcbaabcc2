package devstack

import (
	"bytes"
	"crypto/md5"
	gosql "database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.temporal.io/server/common/config"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/common/resolver"
	"go.temporal.io/server/schema"

	"github.com/kamflow/kamflow/internal/store"
)

// PostgresStore names the PostgreSQL databases the Temporal server keeps
// its data in instead of a SQLite file. Both must exist; their schema is
// created or brought up to date at start.
type PostgresStore struct {
	// URL is the database of workflows, histories, task queues and
	// namespaces.
	URL string
	// VisibilityURL is the database that List, Count and the UI query:
	// one row per workflow run with its search attributes.
	VisibilityURL string
}

// Connection pool sizes of each Temporal service (frontend, history,
// matching, worker: each opens its own pools). Without a limit a burst of
// workflow tasks opens connections until PostgreSQL's max_connections
// refuses kamflow's own; without as many idle ones each burst pays a
// backend fork per connection.
const (
	postgresMaxConns           = 16
	postgresVisibilityMaxConns = 8
)

// postgresConfig creates or updates the schema of both databases and
// returns the server's settings for them.
func (p PostgresStore) postgresConfig() (main, visibility *config.SQL, err error) {
	if main, err = postgresSQL(p.URL, postgresMaxConns); err != nil {
		return nil, nil, err
	}
	if visibility, err = postgresSQL(p.VisibilityURL, postgresVisibilityMaxConns); err != nil {
		return nil, nil, err
	}
	if err := migratePostgres(main, sqlplugin.DbKindMain, "postgresql/v12/temporal"); err != nil {
		return nil, nil, err
	}
	if err := migratePostgres(visibility, sqlplugin.DbKindVisibility, "postgresql/v12/visibility"); err != nil {
		return nil, nil, err
	}
	return main, visibility, nil
}

// postgresSQL turns a postgres:// URL into the server's SQL settings; the
// URL's query (sslmode=disable ...) becomes connection attributes.
func postgresSQL(raw string, maxConns int) (*config.SQL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" || u.Host == "" || len(u.Path) < 2 {
		return nil, fmt.Errorf("temporal database URL %q: want postgres://user@host:port/dbname", store.Redact(raw))
	}
	attrs := map[string]string{}
	for k, v := range u.Query() {
		attrs[k] = v[len(v)-1]
	}
	password, _ := u.User.Password()
	return &config.SQL{
		PluginName:        postgresql.PluginName,
		ConnectProtocol:   "tcp",
		ConnectAddr:       u.Host,
		User:              u.User.Username(),
		Password:          password,
		DatabaseName:      strings.TrimPrefix(u.Path, "/"),
		ConnectAttributes: attrs,
		MaxConns:          maxConns,
		MaxIdleConns:      maxConns,
	}, nil
}

// schemaManifest is a versioned step's manifest.json in the server's
// embedded schema folder.
type schemaManifest struct {
	CurrVersion          string
	MinCompatibleVersion string
	Description          string
	SchemaUpdateCqlFiles []string
}

// migratePostgres brings a database to the schema this server version
// expects, the way the server's docker image does on first start
// (temporal-sql-tool setup-schema -v 0.0, then update-schema over
// dir/versioned): create the version tables, then run every versioned step
// newer than the recorded version, in order, recording each. A fresh
// database runs them all from v1.0; a data folder written by an older
// server gets only the steps it lacks, so a restart reuses its data.
//
// The steps are the server's own embedded files (go.temporal.io/server/schema)
// run through its PostgreSQL plugin; only the loop is ours, because the
// tool's package (tools/common/schema) links urfave/cli, which this module
// does not require.
func migratePostgres(conf *config.SQL, kind sqlplugin.DbKind, dir string) error {
	db, err := sql.NewSQLAdminDB(kind, conf, resolver.NewNoopResolver(), tlog.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("connect to temporal database %s: %w", conf.DatabaseName, err)
	}
	defer func() {
		// The schema is written; a failing close of an admin pool loses nothing.
		_ = db.Close()
	}()
	if err := db.CreateSchemaVersionTables(); err != nil {
		return fmt.Errorf("create schema version tables in %s: %w", conf.DatabaseName, err)
	}
	current, err := db.ReadSchemaVersion(conf.DatabaseName)
	if errors.Is(err, gosql.ErrNoRows) {
		current = "0.0"
	} else if err != nil {
		return fmt.Errorf("read schema version of %s: %w", conf.DatabaseName, err)
	}
	have, err := parseSchemaVersion(current)
	if err != nil {
		return fmt.Errorf("schema version of %s: %w", conf.DatabaseName, err)
	}
	want, err := parseSchemaVersion(db.ExpectedVersion())
	if err != nil {
		return fmt.Errorf("schema version the server expects: %w", err)
	}
	steps, err := schemaSteps(dir)
	if err != nil {
		return err
	}
	for _, s := range steps {
		if slices.Compare(s.version, have) <= 0 || slices.Compare(s.version, want) > 0 {
			continue
		}
		if err := runSchemaStep(db, s); err != nil {
			return fmt.Errorf("update temporal schema of %s to %s: %w", conf.DatabaseName, s.manifest.CurrVersion, err)
		}
		if err := db.UpdateSchemaVersion(conf.DatabaseName, s.manifest.CurrVersion, s.manifest.MinCompatibleVersion); err != nil {
			return fmt.Errorf("record schema version %s of %s: %w", s.manifest.CurrVersion, conf.DatabaseName, err)
		}
		if err := db.WriteSchemaUpdateLog(current, s.manifest.CurrVersion, s.md5, s.manifest.Description); err != nil {
			return fmt.Errorf("record schema update to %s of %s: %w", s.manifest.CurrVersion, conf.DatabaseName, err)
		}
		current, have = s.manifest.CurrVersion, s.version
	}
	if slices.Compare(have, want) < 0 {
		return fmt.Errorf("temporal schema of %s is at %s, the server needs %s, and %s has no step to it", conf.DatabaseName, current, db.ExpectedVersion(), dir)
	}
	return nil
}

// schemaStep is one folder of dir/versioned.
type schemaStep struct {
	dir      string
	version  []int
	manifest schemaManifest
	md5      string
}

// schemaSteps reads the versioned steps of dir, oldest first.
func schemaSteps(dir string) ([]schemaStep, error) {
	assets := schema.Assets()
	entries, err := fs.ReadDir(assets, path.Join(dir, "versioned"))
	if err != nil {
		return nil, fmt.Errorf("embedded temporal schema %s: %w", dir, err)
	}
	var steps []schemaStep
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		s := schemaStep{dir: path.Join(dir, "versioned", e.Name())}
		b, err := fs.ReadFile(assets, path.Join(s.dir, "manifest.json"))
		if err != nil {
			return nil, fmt.Errorf("embedded temporal schema: %w", err)
		}
		if err := json.Unmarshal(b, &s.manifest); err != nil {
			return nil, fmt.Errorf("embedded temporal schema %s/manifest.json: %w", s.dir, err)
		}
		if s.version, err = parseSchemaVersion(s.manifest.CurrVersion); err != nil {
			return nil, fmt.Errorf("embedded temporal schema %s/manifest.json: %w", s.dir, err)
		}
		sum := md5.Sum(b) // the manifest checksum temporal-sql-tool records, not a security measure
		s.md5 = hex.EncodeToString(sum[:])
		steps = append(steps, s)
	}
	slices.SortFunc(steps, func(a, b schemaStep) int { return slices.Compare(a.version, b.version) })
	return steps, nil
}

// runSchemaStep runs the statements of one step's files. A statement that
// finds its table, column or index already there is skipped, as
// temporal-sql-tool skips it: a step interrupted halfway (Ctrl-C during
// the first start) runs again from its beginning at the next start.
func runSchemaStep(db sqlplugin.AdminDB, s schemaStep) error {
	for _, file := range s.manifest.SchemaUpdateCqlFiles {
		content, err := fs.ReadFile(schema.Assets(), path.Join(s.dir, file))
		if err != nil {
			return err
		}
		stmts, err := persistence.LoadAndSplitQueryFromReaders([]io.Reader{bytes.NewReader(content)})
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		for _, stmt := range stmts {
			if err := db.Exec(stmt); err != nil && !strings.Contains(err.Error(), "already exist") {
				return fmt.Errorf("%s: %w", file, err)
			}
		}
	}
	return nil
}

// parseSchemaVersion reads "1.19" as [1 19], so that 1.10 sorts after 1.9.
func parseSchemaVersion(s string) ([]int, error) {
	var v []int
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("schema version %q: want numbers separated by dots", s)
		}
		v = append(v, n)
	}
	return v, nil
}
