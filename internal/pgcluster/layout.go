package pgcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Where the data directory lives when the service user cannot reach Dir.
//
// Running as root, Dir is often somewhere only root can enter: /root/...
// (mode 0700) or a t.TempDir() (whose parents are 0700). postgres, running as
// the service user, must be able to walk to its data directory. Two fixes
// exist: add o+x to every parent, or keep the data somewhere the user can
// reach. Opening /root to every local user to run a dev database is not
// acceptable, so the data moves instead: into a root-owned base directory,
// with Dir/data a symlink to it, so Dir still shows where the data is and the
// same Dir finds the same data on the next start. Dirs under the temporary
// directory relocate under it too, so test clusters never leave state in
// /var/lib.
var (
	persistentBase = "/var/lib/kamflow/pgcluster"
	temporaryBase  = filepath.Join(os.TempDir(), "kamflow-pgcluster")
)

// dataLayout is where a cluster's files are.
type dataLayout struct {
	dir       string // Options.Dir, absolute and resolved
	link      string // dir/data: the data directory or a symlink to it
	data      string // the real data directory
	relocated bool   // data is outside dir (link is a symlink we made)
	fresh     bool   // this start created the data directory
	major     int    // major version that created the cluster, 0 when new
}

// prepareLayout decides where the data directory is, creates it and makes
// sure the server's user owns it and can reach it.
func prepareLayout(ctx context.Context, dir string, u *osUser, log *slog.Logger) (dataLayout, error) {
	l := dataLayout{dir: dir, link: filepath.Join(dir, "data")}
	fi, err := os.Lstat(l.link)
	switch {
	case err == nil && fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(l.link)
		if err != nil {
			return l, fmt.Errorf("read link %s: %w", l.link, err)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		l.data, l.relocated = filepath.Clean(target), true
		if _, err := os.Stat(l.data); errors.Is(err, fs.ErrNotExist) {
			// Our relocated data was deleted (a cleaned /tmp): start a new
			// cluster in the same place. A link someone else made to a place
			// that vanished is theirs to fix.
			if !withinBase(l.data) || u == nil {
				return l, fmt.Errorf("%s points to %s, which does not exist: remove the link to start a new cluster", l.link, l.data)
			}
			if err := ensureBase(ctx, filepath.Dir(l.data), u); err != nil {
				return l, err
			}
		}
	case err == nil && fi.IsDir():
		l.data = l.link
	case err == nil:
		return l, fmt.Errorf("%s exists and is not a directory: remove it or choose another Dir", l.link)
	case errors.Is(err, fs.ErrNotExist):
		l.data = l.link
		if u != nil && !canReach(ctx, u, dir) {
			base := relocationBase(dir)
			if err := ensureBase(ctx, base, u); err != nil {
				return l, err
			}
			sum := sha256.Sum256([]byte(dir))
			l.data = filepath.Join(base, hex.EncodeToString(sum[:8]))
			l.relocated = true
			if err := os.Symlink(l.data, l.link); err != nil {
				return l, fmt.Errorf("link %s to %s: %w", l.link, l.data, err)
			}
			// The marker names the Dir the data belongs to, so the data can be
			// swept once that Dir is deleted (a test's t.TempDir).
			if err := os.WriteFile(l.data+".dir", []byte(dir+"\n"), 0o644); err != nil {
				return l, fmt.Errorf("write %s.dir: %w", l.data, err)
			}
			log.Info("user cannot reach the cluster directory: data directory relocated",
				"user", u.name, "dir", dir, "data_dir", l.data)
		}
	default:
		return l, fmt.Errorf("inspect %s: %w", l.link, err)
	}

	switch err := os.Mkdir(l.data, 0o700); {
	case err == nil:
		l.fresh = true
	case !errors.Is(err, fs.ErrExist):
		return l, fmt.Errorf("create data directory %s: %w", l.data, err)
	}
	// The resolved path is what postgres reports as its working directory,
	// which is how a leftover server of this cluster is recognised.
	real, err := filepath.EvalSymlinks(l.data)
	if err != nil {
		return l, fmt.Errorf("resolve data directory %s: %w", l.data, err)
	}
	l.data = real
	if err := l.checkContents(); err != nil {
		return l, err
	}
	if err := l.checkOwner(u, log); err != nil {
		return l, err
	}
	if l.relocated && withinBase(l.data) {
		sweepOrphans(filepath.Dir(l.data), l.data, log)
	}
	if u != nil && !canReach(ctx, u, l.data) {
		return l, fmt.Errorf("user %s cannot reach the data directory %s (a parent directory denies it search permission): run chmod o+x on that parent, or remove %s so a new cluster is placed where %s can reach it", u.name, l.data, l.link, u.name)
	}
	return l, nil
}

// checkContents refuses a non-empty directory that is not a cluster, so a
// wrong Dir never gets initdb'd over or chowned, and reads the version of an
// existing cluster.
func (l *dataLayout) checkContents() error {
	v, err := os.ReadFile(filepath.Join(l.data, "PG_VERSION"))
	if err == nil {
		major, ok := parseMajor(strings.TrimSpace(string(v)))
		if !ok {
			return fmt.Errorf("%s/PG_VERSION holds %q, not a PostgreSQL version: remove the data directory to start over", l.data, strings.TrimSpace(string(v)))
		}
		l.major = major
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s/PG_VERSION: %w", l.data, err)
	}
	entries, err := os.ReadDir(l.data)
	if err != nil {
		return fmt.Errorf("read data directory %s: %w", l.data, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("data directory %s is not empty and holds no PostgreSQL cluster: empty it or choose another Dir", l.data)
	}
	return nil
}

// checkOwner makes the data directory the server user's. As root it is
// fixed (a cluster made when kamflow fell back to nobody moves to kamflow);
// otherwise a directory of another user is an error, as postgres would
// refuse it anyway with a less helpful message.
func (l *dataLayout) checkOwner(u *osUser, log *slog.Logger) error {
	fi, err := os.Stat(l.data)
	if err != nil {
		return fmt.Errorf("inspect data directory %s: %w", l.data, err)
	}
	uid, err := owner(fi)
	if err != nil {
		return err
	}
	if u == nil {
		if me := uint32(os.Geteuid()); uid != me {
			return fmt.Errorf("data directory %s is owned by uid %d, not by uid %d that runs the server: choose another Dir or chown the directory", l.data, uid, me)
		}
	} else if uid != u.uid {
		if !l.fresh {
			log.Info("giving the data directory to the server user", "data_dir", l.data, "user", u.name)
		}
		if err := chownTree(l.data, u); err != nil {
			return err
		}
	}
	// postgres refuses group or world access other than 0750.
	if p := fi.Mode().Perm(); p != 0o700 && p != 0o750 {
		if err := os.Chmod(l.data, 0o700); err != nil {
			return fmt.Errorf("chmod 0700 %s: %w", l.data, err)
		}
	}
	return nil
}

func relocationBase(dir string) string {
	tmp := os.TempDir()
	if r, err := filepath.EvalSymlinks(tmp); err == nil {
		tmp = r
	}
	if within(dir, tmp) {
		return temporaryBase
	}
	return persistentBase
}

func withinBase(path string) bool {
	return within(path, persistentBase) || within(path, temporaryBase)
}

func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}

// ensureBase creates the relocation base. Data of every relocated cluster
// sits below it, so it must be a real directory that only root can write:
// in /tmp anyone could otherwise pre-create it and redirect root's writes.
func ensureBase(ctx context.Context, base string, u *osUser) error {
	if err := mkdirAllMode(base, 0o755); err != nil {
		return err
	}
	fi, err := os.Lstat(base)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", base, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s must be a directory owned by root and writable only by root: remove it so it is recreated", base)
	}
	if !canReach(ctx, u, base) {
		return fmt.Errorf("user %s cannot reach %s either: make its parents searchable (chmod o+x) or run kamflow as a non-root user", u.name, base)
	}
	return nil
}

// mkdirAllMode is os.MkdirAll with the mode applied despite the umask, to the
// directories it creates only: a root umask of 077 must not make the
// relocation base unreachable, and existing parents are not ours to change.
func mkdirAllMode(path string, mode fs.FileMode) error {
	if fi, err := os.Stat(path); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", path)
		}
		return nil
	}
	if parent := filepath.Dir(path); parent != path {
		if err := mkdirAllMode(parent, mode); err != nil {
			return err
		}
	}
	if err := os.Mkdir(path, mode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return nil
}

// undo removes a data directory this start created and left empty (it failed
// before initdb), with its relocation link, so a failed start leaves no
// orphan behind in the relocation base.
func (l dataLayout) undo() error {
	if !l.fresh {
		return nil
	}
	if err := os.Remove(l.data); err != nil {
		// Not empty: initdb ran, keep it for the next start.
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			return nil
		}
		return fmt.Errorf("remove unused %s: %w", l.data, err)
	}
	if l.relocated {
		if err := os.Remove(l.link); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove unused %s: %w", l.link, err)
		}
	}
	return nil
}

// sweepOrphans deletes relocated data directories whose Dir no longer exists
// and that no server uses: nothing can ever start them again, and a test
// suite that removes its t.TempDir would otherwise leave a cluster's worth
// of files behind per test. Failures are only logged: sweeping is
// housekeeping and must not stop a start.
func sweepOrphans(base, keep string, log *slog.Logger) {
	markers, err := filepath.Glob(filepath.Join(base, "*.dir"))
	if err != nil {
		log.Warn("sweep relocated clusters", "base", base, "err", err)
		return
	}
	for _, marker := range markers {
		data := strings.TrimSuffix(marker, ".dir")
		if data == keep {
			continue
		}
		owner, err := os.ReadFile(marker)
		if err != nil {
			continue
		}
		if _, err := os.Lstat(strings.TrimSpace(string(owner))); !errors.Is(err, fs.ErrNotExist) {
			continue // its Dir is still there (or cannot be checked): keep
		}
		if len(serversOf(data)) > 0 {
			continue
		}
		err = errors.Join(os.RemoveAll(data), os.RemoveAll(data+".initdb"), os.Remove(marker))
		if err != nil {
			log.Warn("sweep relocated cluster", "data_dir", data, "err", err)
			continue
		}
		log.Info("removed the data of a cluster whose directory is gone", "data_dir", data, "dir", strings.TrimSpace(string(owner)))
	}
}
