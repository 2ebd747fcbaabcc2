package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// serviceUserName is the account the server runs as when kamflow runs as
// root: initdb and postgres refuse root, and a dedicated user keeps the
// cluster's files away from everybody else's.
// A variable only so a test can create a throwaway user.
var serviceUserName = "kamflow"

// osUser is the unprivileged identity initdb and postgres run as.
type osUser struct {
	name     string
	uid, gid uint32
}

// credential drops root to u in the child; the empty group list clears
// root's supplementary groups.
func (u *osUser) credential() *syscall.Credential {
	return &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}
}

// serviceUser returns nil when the process is not root (the server then runs
// as the current user), else the user the server must run as: kamflow,
// created when missing, or nobody when it cannot be created.
func serviceUser(ctx context.Context, log *slog.Logger) (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if u, err := lookupUser(serviceUserName); err == nil {
		return u, nil
	}
	// Concurrent useradds (parallel tests, two test binaries) race on
	// /etc/passwd and /etc/group, and one can roll back a user another has
	// already looked up. Creating the user is serialised across processes.
	unlock, err := lockUserAdd()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if u, err := lookupUser(serviceUserName); err == nil {
		return u, nil
	}
	args := []string{"--system", "--no-create-home"}
	if _, err := os.Stat("/usr/sbin/nologin"); err == nil {
		args = append(args, "--shell", "/usr/sbin/nologin")
	}
	out, addErr := exec.CommandContext(ctx, "useradd", append(args, serviceUserName)...).CombinedOutput()
	// Another process may have created the user at the same moment (two
	// test binaries starting together): the lookup decides, not the exit code.
	if u, err := lookupUser(serviceUserName); err == nil {
		if addErr == nil {
			log.Info("created system user for the PostgreSQL server", "user", serviceUserName)
		}
		return u, nil
	}
	u, err := lookupUser("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs an unprivileged user: useradd %s failed (%v: %s) and user nobody is unusable (%v): create the user %s yourself", serviceUserName, addErr, strings.TrimSpace(string(out)), err, serviceUserName)
	}
	log.Warn("running PostgreSQL as nobody: could not create the system user", "user", serviceUserName, "err", addErr)
	return u, nil
}

// userAddLock lives in a root-owned directory: a lock file in /tmp could be
// planted by anyone.
var userAddLock = "/var/lib/kamflow/useradd.lock"

var userAddMu sync.Mutex

// lockUserAdd takes the process-wide and machine-wide user creation lock.
func lockUserAdd() (unlock func(), err error) {
	userAddMu.Lock()
	if err := mkdirAllMode(filepath.Dir(userAddLock), 0o755); err != nil {
		userAddMu.Unlock()
		return nil, err
	}
	f, err := os.OpenFile(userAddLock, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		userAddMu.Unlock()
		return nil, fmt.Errorf("open %s: %w", userAddLock, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		userAddMu.Unlock()
		return nil, errors.Join(fmt.Errorf("lock %s: %w", userAddLock, err), f.Close())
	}
	return func() {
		// Closing drops the flock; a close error on a lock file loses nothing.
		_ = f.Close()
		userAddMu.Unlock()
	}, nil
}

func lookupUser(name string) (*osUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("look up user %s: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("user %s is root", name)
	}
	return &osUser{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
}

// canReach asks the kernel whether u can walk to dir, i.e. has search
// permission on every component. Computing it from mode bits would miss ACLs
// and supplementary groups; a one-line child under u's credentials cannot.
func canReach(ctx context.Context, u *osUser, dir string) bool {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `cd -- "$1"`, "sh", dir)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.credential()}
	return cmd.Run() == nil
}

// chownTree gives the data directory to the server's user. It is used on
// directories that are empty or hold a PostgreSQL cluster only, so a
// mistaken Dir can never hand unrelated files to the service user.
func chownTree(root string, u *osUser) error {
	return filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, int(u.uid), int(u.gid)); err != nil {
			return fmt.Errorf("chown %s to %s: %w", path, u.name, err)
		}
		return nil
	})
}

// owner returns the uid owning path.
func owner(fi fs.FileInfo) (uint32, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("file owner unavailable on this platform")
	}
	return st.Uid, nil
}

// writeOwned writes a file the server must read, owned by u when running as
// root (a root-owned 0600 file would be unreadable to postgres).
func writeOwned(path string, data []byte, u *osUser) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if u != nil {
		if err := os.Chown(path, int(u.uid), int(u.gid)); err != nil {
			return fmt.Errorf("chown %s to %s: %w", path, u.name, err)
		}
	}
	return nil
}
