package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ErrNoServer reports that no PostgreSQL server binaries were found, so the
// worker can tell the user to install them or point DATABASE_URL elsewhere
// instead of failing with an exec error.
var ErrNoServer = errors.New("PostgreSQL server binaries not found")

// searchGlob is where Debian and Ubuntu install one bin directory per major
// version; a variable so tests can point it at an empty place.
var searchGlob = "/usr/lib/postgresql/*/bin"

// serverTools are the programs a cluster needs; a directory missing one of
// them is a client-only install (postgresql-client) and is skipped.
var serverTools = []string{"initdb", "pg_ctl", "postgres"}

// binaries is one usable set of server programs.
type binaries struct {
	dir   string
	major int // 0 when unknown until asked
}

func (b binaries) path(tool string) string { return filepath.Join(b.dir, tool) }

// candidates lists the usable server bin directories, best first. An explicit
// directory (Options.BinDir, then KAM_PG_BIN) is the only candidate when set,
// so a wrong setting fails loudly instead of silently using another version.
func candidates(explicit string) ([]binaries, error) {
	if explicit == "" {
		explicit = os.Getenv("KAM_PG_BIN")
	}
	if explicit != "" {
		if !complete(explicit) {
			return nil, fmt.Errorf("%w in %s (KAM_PG_BIN or Options.BinDir): point it at the directory holding initdb, pg_ctl and postgres, or set DATABASE_URL", ErrNoServer, explicit)
		}
		return []binaries{{dir: explicit}}, nil
	}
	dirs, err := filepath.Glob(searchGlob)
	if err != nil {
		return nil, fmt.Errorf("search %s: %w", searchGlob, err)
	}
	var found []binaries
	for _, d := range dirs {
		major, ok := parseMajor(filepath.Base(filepath.Dir(d)))
		if ok && complete(d) {
			found = append(found, binaries{dir: d, major: major})
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%w in %s: install them with `apt-get install postgresql` or set DATABASE_URL", ErrNoServer, searchGlob)
	}
	// Highest version first: a fresh cluster gets the newest server installed.
	slices.SortFunc(found, func(a, b binaries) int { return b.major - a.major })
	return found, nil
}

// pick chooses the binaries for a data directory created by dataMajor (0 for
// a new cluster): an existing cluster can only be opened by its own major
// version, so that one wins when it is installed.
func pick(found []binaries, dataMajor int) (binaries, error) {
	if dataMajor != 0 {
		for _, b := range found {
			if b.major == dataMajor {
				return b, nil
			}
		}
	}
	b := found[0]
	if b.major == 0 {
		m, err := serverMajor(b)
		if err != nil {
			return binaries{}, err
		}
		b.major = m
	}
	if dataMajor != 0 && dataMajor != b.major {
		return binaries{}, fmt.Errorf("the data directory was created by PostgreSQL %d but the server in %s is %d: install postgresql-%d, set KAM_PG_BIN to its bin directory, or remove the data directory", dataMajor, b.dir, b.major, dataMajor)
	}
	return b, nil
}

func complete(dir string) bool {
	for _, tool := range serverTools {
		fi, err := os.Stat(filepath.Join(dir, tool))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// parseMajor reads "15" or "9.6" (pre-10 majors had two parts; 9.6 is 906).
func parseMajor(s string) (int, bool) {
	a, b, dotted := strings.Cut(s, ".")
	x, err := strconv.Atoi(a)
	if err != nil || x <= 0 {
		return 0, false
	}
	if !dotted {
		return x, true
	}
	y, err := strconv.Atoi(b)
	if err != nil || y < 0 {
		return 0, false
	}
	return x*100 + y, true
}

var versionLine = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// serverMajor asks the server binary itself, for directories whose name
// does not carry the version (KAM_PG_BIN=/opt/pg/bin).
func serverMajor(b binaries) (int, error) {
	out, err := exec.Command(b.path("postgres"), "-V").Output()
	if err != nil {
		return 0, fmt.Errorf("run %s -V: %w", b.path("postgres"), err)
	}
	m := versionLine.FindStringSubmatch(string(out))
	if m == nil {
		return 0, fmt.Errorf("%s -V printed %q, not a PostgreSQL version", b.path("postgres"), strings.TrimSpace(string(out)))
	}
	x, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, fmt.Errorf("parse version %q: %w", m[0], err)
	}
	if x < 10 && m[2] != "" {
		y, err := strconv.Atoi(m[2])
		if err != nil {
			return 0, fmt.Errorf("parse version %q: %w", m[0], err)
		}
		return x*100 + y, nil
	}
	return x, nil
}
