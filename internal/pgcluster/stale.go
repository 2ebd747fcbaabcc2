package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// How long leftover server processes get to exit on their own after their
// postmaster died, before they are killed. Backends notice the postmaster's
// death within a second or two.
var orphanGrace = 10 * time.Second

// recoverStale makes a data directory startable after a crash. A postmaster.pid
// left behind means one of: the server was killed (pid gone, or reused by an
// unrelated process), or it still runs because the process that started it
// died without stopping it. postgres itself refuses to start in the second
// case and in the reused-pid case, so both are resolved here: a live server of
// this data directory is stopped, the file is removed, and processes that
// outlived their postmaster are waited for, as their shared memory would
// block the new server.
func (c *Cluster) recoverStale(ctx context.Context) error {
	pidFile := filepath.Join(c.layout.data, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", pidFile, err)
	}
	pid := parsePid(b)
	if pid > 0 && serverOf(pid, c.layout.data) {
		if uid, err := procUID(pid); err == nil && uid != c.serverUID() {
			return fmt.Errorf("data directory %s is in use by PostgreSQL pid %d running as uid %d: stop that server or choose another Dir", c.layout.data, pid, uid)
		}
		c.log.Warn("stopping a PostgreSQL server left running by an earlier process", "pid", pid, "data_dir", c.layout.data)
		if err := c.pgctlStop(ctx, "fast"); err != nil {
			c.log.Warn("fast shutdown failed, trying immediate", "pid", pid, "err", err)
			if err := c.pgctlStop(ctx, "immediate"); err != nil {
				return fmt.Errorf("stop the PostgreSQL server (pid %d) left running on %s: %w", pid, c.layout.data, err)
			}
		}
	} else {
		c.log.Warn("removing postmaster.pid left by a server that is gone", "pid", pid, "data_dir", c.layout.data)
	}
	if err := c.waitOrphans(ctx); err != nil {
		return err
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", pidFile, err)
	}
	return nil
}

// waitOrphans waits for server processes of this data directory to exit and
// kills those still there after orphanGrace. Only processes whose working
// directory is this data directory and whose program is postgres qualify:
// those belong to this cluster and nothing else.
func (c *Cluster) waitOrphans(ctx context.Context) error {
	deadline := time.Now().Add(orphanGrace)
	killed := false
	for {
		left := serversOf(c.layout.data)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if killed {
				return fmt.Errorf("PostgreSQL processes %v of %s do not exit: kill them and start again", left, c.layout.data)
			}
			c.log.Warn("killing PostgreSQL processes that outlived their postmaster", "pids", left, "data_dir", c.layout.data)
			for _, pid := range left {
				if uid, err := procUID(pid); err == nil && uid == c.serverUID() {
					if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
						return fmt.Errorf("kill leftover PostgreSQL process %d: %w", pid, err)
					}
				}
			}
			killed, deadline = true, time.Now().Add(5*time.Second)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for leftover PostgreSQL processes %v to exit: %w", left, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// parsePid reads the first line of postmaster.pid; a single-user backend
// writes its pid negated.
func parsePid(b []byte) int {
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0
	}
	if pid < 0 {
		pid = -pid
	}
	return pid
}

// serverOf tells whether pid is a postgres process working in data:
// postgres chdirs into its data directory, so this survives pid reuse.
func serverOf(pid int, data string) bool {
	proc := "/proc/" + strconv.Itoa(pid)
	cwd, err := os.Readlink(proc + "/cwd")
	if err != nil || cwd != data {
		return false
	}
	exe, err := os.Readlink(proc + "/exe")
	return err == nil && strings.HasPrefix(filepath.Base(exe), "postgres")
}

// serversOf lists the live postgres processes working in data.
func serversOf(data string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if serverOf(pid, data) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

func procUID(pid int) (uint32, error) {
	fi, err := os.Stat("/proc/" + strconv.Itoa(pid))
	if err != nil {
		return 0, fmt.Errorf("inspect process %d: %w", pid, err)
	}
	return owner(fi)
}
