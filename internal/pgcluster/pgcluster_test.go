package pgcluster

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// startCluster starts a cluster in dir and destroys it when the test ends.
func startCluster(t *testing.T, dir string) *Cluster {
	t.Helper()
	c, err := Start(t.Context(), Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Destroy()) })
	return c
}

func open(t *testing.T, url string) *sql.DB {
	t.Helper()
	connector, err := pq.NewConnector(url)
	require.NoError(t, err)
	db := sql.OpenDB(connector)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// abandon lets go of a cluster the way a crashed owner does: the lock is
// released (the kernel does that on death) but nothing is stopped.
func (c *Cluster) abandon(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	require.NoError(t, c.admin.Close())
	require.NoError(t, c.lock.Close())
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, pid := range pids {
			if alive(pid) && !zombie(pid) {
				return false
			}
		}
		return true
	}, 15*time.Second, 50*time.Millisecond, "processes %v still running", pids)
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	return strings.HasPrefix(strings.TrimSpace(s[strings.LastIndexByte(s, ')')+1:]), "Z")
}

// TestStartStopRestartKeepsData is the dev loop: start, write, stop, start
// the same Dir again and find the data; the settings are the ones promised.
func TestStartStopRestartKeepsData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "pg")
	c, err := Start(ctx, Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Destroy()) })

	url, err := c.CreateDatabase(ctx, "keep")
	require.NoError(t, err)
	db := open(t, url)
	_, err = db.ExecContext(ctx, `CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')`)
	require.NoError(t, err)

	settings := map[string]string{
		"server_encoding":    "UTF8",
		"lc_collate":         "C",
		"max_connections":    "200",
		"listen_addresses":   "127.0.0.1",
		"fsync":              "on",
		"synchronous_commit": "on",
		"TimeZone":           "UTC",
	}
	for name, want := range settings {
		var got string
		require.NoError(t, db.QueryRowContext(ctx, "SELECT current_setting($1)", name).Scan(&got))
		require.Equal(t, want, got, name)
	}
	_, err = c.CreateDatabase(ctx, "keep")
	require.ErrorContains(t, err, "already exists")

	pid := c.proc.pid
	if os.Geteuid() == 0 {
		fi, err := os.Stat("/proc/" + strconv.Itoa(pid))
		require.NoError(t, err)
		uid, err := owner(fi)
		require.NoError(t, err)
		require.NotZero(t, uid, "the server must not run as root")
		require.Equal(t, c.user.uid, uid)
	}
	require.NoError(t, db.Close())
	require.NoError(t, c.Stop())
	require.NoError(t, c.Stop(), "a second Stop is a no-op")
	waitGone(t, pid)
	require.NoFileExists(t, filepath.Join(c.DataDir(), "postmaster.pid"))

	c2, err := Start(ctx, Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c2.Stop()) })
	require.Equal(t, c.DataDir(), c2.DataDir())
	url, err = c2.EnsureDatabase(ctx, "keep")
	require.NoError(t, err)
	var v string
	require.NoError(t, open(t, url).QueryRowContext(ctx, `SELECT v FROM t`).Scan(&v))
	require.Equal(t, "kept", v)

	log, err := os.ReadFile(filepath.Join(dir, "postgres.log"))
	require.NoError(t, err)
	require.Contains(t, string(log), "database system is ready to accept connections")
}

// TestDataPlacement: as root, a Dir the server's user cannot walk to (a
// t.TempDir is 0700) gets its data relocated behind a symlink; a reachable
// Dir keeps the data inside.
func TestDataPlacement(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("placement only changes when running as root")
	}
	t.Parallel()
	hidden := filepath.Join(t.TempDir(), "hidden")
	c := startCluster(t, hidden)
	fi, err := os.Lstat(filepath.Join(hidden, "data"))
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&fs.ModeSymlink, "data should be a symlink to the relocated directory")
	require.True(t, strings.HasPrefix(c.DataDir(), temporaryBase+"/"), c.DataDir())
	fi, err = os.Stat(c.DataDir())
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o700), fi.Mode().Perm())
	uid, err := owner(fi)
	require.NoError(t, err)
	require.Equal(t, c.user.uid, uid)

	// The placement is remembered: a restart uses the same data.
	data := c.DataDir()
	require.NoError(t, c.Stop())
	c2, err := Start(t.Context(), Options{Dir: hidden})
	require.NoError(t, err)
	require.Equal(t, data, c2.DataDir())
	require.NoError(t, c2.Destroy())
	require.NoDirExists(t, data, "Destroy removes relocated data")
	require.NoFileExists(t, filepath.Join(hidden, "data"))
	require.NoFileExists(t, data+".dir")

	// Stopped, not destroyed, then its Dir deleted: the next start of any
	// relocated cluster sweeps the orphaned data.
	c3, err := Start(t.Context(), Options{Dir: hidden})
	require.NoError(t, err)
	require.NoError(t, c3.Stop())
	sweepOrphans(temporaryBase, "", slog.New(slog.DiscardHandler))
	require.DirExists(t, c3.DataDir(), "its Dir still exists")
	require.NoError(t, os.RemoveAll(hidden))
	sweepOrphans(temporaryBase, "", slog.New(slog.DiscardHandler))
	require.NoDirExists(t, c3.DataDir())
	require.NoFileExists(t, c3.DataDir()+".dir")
}

// TestRecoversKilledPostmaster: kill -9 leaves postmaster.pid and, for a
// moment, orphaned backends; Start must clean up and run crash recovery.
func TestRecoversKilledPostmaster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := reachableDir(t)
	c, err := Start(ctx, Options{Dir: dir})
	require.NoError(t, err)
	url, err := c.CreateDatabase(ctx, "survivor")
	require.NoError(t, err)
	db := open(t, url)
	_, err = db.ExecContext(ctx, `CREATE TABLE t (v int); INSERT INTO t VALUES (42)`)
	require.NoError(t, err)

	pid := c.proc.pid
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	<-c.proc.done
	require.FileExists(t, filepath.Join(c.DataDir(), "postmaster.pid"))
	c.abandon(t)

	c2 := startCluster(t, dir)
	require.NotEqual(t, pid, c2.proc.pid)
	db2 := open(t, c2.URL("survivor"))
	var v int
	require.NoError(t, db2.QueryRowContext(ctx, `SELECT v FROM t`).Scan(&v))
	require.Equal(t, 42, v)
}

// TestStopsServerLeftRunning: a server whose owner died without stopping it
// (lock free, server up) is stopped and replaced; while the owner lives, a
// second Start is refused instead.
func TestStopsServerLeftRunning(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := reachableDir(t)
	c, err := Start(ctx, Options{Dir: dir})
	require.NoError(t, err)

	_, err = Start(ctx, Options{Dir: dir})
	require.ErrorContains(t, err, "in use by another process")

	old := c.proc.pid
	c.abandon(t)
	require.True(t, alive(old))

	c2 := startCluster(t, dir)
	waitGone(t, old)
	require.NotEqual(t, old, c2.proc.pid)
	require.NoError(t, open(t, c2.URL("postgres")).PingContext(ctx))
}

// TestOwnerDeathStopsServer: when the process that started the cluster is
// killed, the kernel tells postgres (Pdeathsig) and it shuts down cleanly.
func TestOwnerDeathStopsServer(t *testing.T) {
	t.Parallel()
	dir := reachableDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperOwner$")
	cmd.Env = append(os.Environ(), "PGCLUSTER_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var said []string
	pid := 0
	for lines := bufio.NewScanner(out); pid == 0 && lines.Scan(); {
		said = append(said, lines.Text())
		if p, ok := strings.CutPrefix(lines.Text(), "pid "); ok {
			pid, err = strconv.Atoi(p)
			require.NoError(t, err)
		}
	}
	require.NotZero(t, pid, "helper said:\n%s", strings.Join(said, "\n"))
	require.True(t, alive(pid))

	require.NoError(t, cmd.Process.Kill())
	require.Error(t, cmd.Wait())
	waitGone(t, pid)
	require.NoFileExists(t, filepath.Join(dir, "data", "postmaster.pid"), "fast shutdown removes the pid file")
	startCluster(t, dir)
}

// TestHelperOwner is the owner process of TestOwnerDeathStopsServer.
func TestHelperOwner(t *testing.T) {
	dir := os.Getenv("PGCLUSTER_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	c, err := Start(context.Background(), Options{Dir: dir})
	require.NoError(t, err)
	fmt.Printf("pid %d\n", c.proc.pid)
	time.Sleep(time.Minute) // killed by the parent long before
}

// TestServiceUserCreatedOnce: concurrent starts on a machine without the
// user create it once and all run as the same uid.
func TestServiceUserCreatedOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root creates the service user")
	}
	name := fmt.Sprintf("kamtest%d", os.Getpid())
	old := serviceUserName
	serviceUserName = name
	t.Cleanup(func() {
		serviceUserName = old
		out, err := exec.Command("userdel", name).CombinedOutput()
		require.NoError(t, err, "userdel: %s", out)
	})
	uids := make(chan uint32, 4)
	for range cap(uids) {
		go func() {
			u, err := serviceUser(t.Context(), slog.New(slog.DiscardHandler))
			if err != nil || u.name != name {
				t.Errorf("serviceUser = %+v, %v", u, err)
				uids <- 0
				return
			}
			uids <- u.uid
		}()
	}
	first := <-uids
	require.NotZero(t, first)
	for range cap(uids) - 1 {
		require.Equal(t, first, <-uids)
	}
}

// TestAsUnprivilegedUser runs Start the way a developer without root does:
// the test binary re-runs itself as nobody. A Dir of its own works; a Dir
// it cannot write is refused with the owner named.
func TestAsUnprivilegedUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to become another user")
	}
	t.Parallel()
	nobody, err := lookupUser("nobody")
	require.NoError(t, err)
	base := filepath.Dir(reachableDir(t))
	bin := filepath.Join(base, "pgcluster.test")
	data, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	own := filepath.Join(base, "own")
	require.NoError(t, os.Mkdir(own, 0o755))
	require.NoError(t, os.Chown(own, int(nobody.uid), int(nobody.gid)))
	rootOwned := filepath.Join(base, "root-owned")
	require.NoError(t, os.Mkdir(rootOwned, 0o755))

	run := func(dir string) string {
		cmd := exec.Command(bin, "-test.run=^TestHelperUnprivileged$")
		cmd.Env = append(os.Environ(), "PGCLUSTER_HELPER_UNPRIVILEGED="+dir)
		cmd.Dir = base
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: nobody.credential()}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	require.Contains(t, run(filepath.Join(own, "pg")), "RESULT ok")
	fi, err := os.Stat(filepath.Join(own, "pg", "data"))
	require.NoError(t, err)
	uid, err := owner(fi)
	require.NoError(t, err)
	require.Equal(t, nobody.uid, uid, "the data belongs to the user who ran it")
	require.Contains(t, run(rootOwned),
		fmt.Sprintf("RESULT start PostgreSQL: cluster directory %s is owned by uid 0 and not writable by uid %d", rootOwned, nobody.uid))
}

// TestHelperUnprivileged is the unprivileged side of TestAsUnprivilegedUser.
func TestHelperUnprivileged(t *testing.T) {
	dir := os.Getenv("PGCLUSTER_HELPER_UNPRIVILEGED")
	if dir == "" {
		t.Skip("helper process only")
	}
	c, err := Start(t.Context(), Options{Dir: dir})
	if err != nil {
		fmt.Println("RESULT", err)
		return
	}
	url, err := c.CreateDatabase(t.Context(), "mine")
	require.NoError(t, err)
	require.NoError(t, open(t, url).PingContext(t.Context()))
	require.NoError(t, c.Stop())
	fmt.Println("RESULT ok")
}

func TestPortInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	port := l.Addr().(*net.TCPAddr).Port

	_, err = Start(t.Context(), Options{Dir: t.TempDir(), Port: port})
	require.ErrorContains(t, err, fmt.Sprintf("port %d on 127.0.0.1 is already in use", port))
}

func TestMissingBinaries(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		name, env, glob, want string
	}{
		{
			name: "nothing installed",
			glob: filepath.Join(empty, "*", "bin"),
			want: "PostgreSQL server binaries not found in " + filepath.Join(empty, "*", "bin") +
				": install them with `apt-get install postgresql` or set DATABASE_URL",
		},
		{
			name: "KAM_PG_BIN wrong",
			env:  empty,
			glob: searchGlob,
			want: "PostgreSQL server binaries not found in " + empty + " (KAM_PG_BIN",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KAM_PG_BIN", tc.env)
			old := searchGlob
			searchGlob = tc.glob
			t.Cleanup(func() { searchGlob = old })
			_, err := Start(t.Context(), Options{Dir: t.TempDir()})
			require.ErrorIs(t, err, ErrNoServer)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestPickVersion(t *testing.T) {
	found := []binaries{{dir: "/pg/16/bin", major: 16}, {dir: "/pg/15/bin", major: 15}, {dir: "/pg/9.6/bin", major: 906}}
	for _, tc := range []struct {
		name    string
		data    int
		want    string
		wantErr string
	}{
		{name: "new cluster gets the newest", data: 0, want: "/pg/16/bin"},
		{name: "existing cluster keeps its version", data: 15, want: "/pg/15/bin"},
		{name: "version not installed", data: 14, wantErr: "created by PostgreSQL 14 but the server in /pg/16/bin is 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := pick(found, tc.data)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, b.dir)
		})
	}
	for in, want := range map[string]int{"15": 15, "9.6": 906, "x": 0, "": 0} {
		got, _ := parseMajor(in)
		require.Equal(t, want, got, in)
	}
}

func TestRefusesForeignDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data", "notes.txt"), []byte("mine"), 0o600))
	_, err := Start(t.Context(), Options{Dir: dir})
	require.ErrorContains(t, err, "is not empty and holds no PostgreSQL cluster")
	fi, err := os.Stat(filepath.Join(dir, "data", "notes.txt"))
	require.NoError(t, err)
	uid, err := owner(fi)
	require.NoError(t, err)
	require.Equal(t, uint32(os.Geteuid()), uid, "files of a foreign directory are never chowned")
}

// reachableDir is a Dir the server's user can walk to, so the data stays
// inside it (t.TempDir's parents are 0700).
func reachableDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		require.NoError(t, os.Chmod(p, 0o755))
	}
	return filepath.Join(dir, "pg")
}
