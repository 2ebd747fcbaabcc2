// Package pgcluster runs a private PostgreSQL server from the machine's own
// server binaries (Debian's /usr/lib/postgresql/<version>/bin), so
// `worker --dev` and the tests get a real PostgreSQL with one call and no
// Docker, no system service and no fetched binaries.
//
// A cluster lives in one directory: data/ (the data directory, or a symlink
// to it when the server's user cannot reach Dir), postgres.log and a lock
// file. It listens on 127.0.0.1 only, trusts local connections, and is
// stopped when its owner process exits, even by a crash.
package pgcluster

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// Superuser is the role initdb creates; URL connects as it.
const Superuser = "postgres"

// Options says where and how to run the cluster.
type Options struct {
	// Dir holds the cluster and is created when missing. Starting the same
	// Dir again finds the same data.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one at each start.
	Port int
	// BinDir is the directory with initdb, pg_ctl and postgres. Empty means
	// $KAM_PG_BIN, else the highest version in /usr/lib/postgresql/*/bin.
	BinDir string
	// Logger receives lifecycle events (init, recovery, start, stop); nil
	// discards them. The server's own log goes to Dir/postgres.log.
	Logger *slog.Logger
}

// Cluster is a running server. Its methods are safe for concurrent use.
type Cluster struct {
	log     *slog.Logger
	bin     binaries
	user    *osUser // nil: the server runs as the current user
	layout  dataLayout
	logPath string
	port    int
	lock    *os.File

	mu      sync.Mutex
	proc    *process
	admin   *sql.DB
	stopped bool
}

// process is the postmaster this Cluster started; done closes when it exits.
type process struct {
	pid  int
	done chan struct{}
	err  error
}

// Start initialises the cluster on first use, recovers it after a crash and
// starts the server, returning once it accepts connections.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("start PostgreSQL: Options.Dir is empty: set the directory that holds the cluster")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	found, err := candidates(opts.BinDir)
	if err != nil {
		return nil, err
	}
	dir, err := prepareDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	c, err := start(ctx, dir, found, opts, log)
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL in %s: %w", dir, err)
	}
	return c, nil
}

func start(ctx context.Context, dir string, found []binaries, opts Options, log *slog.Logger) (_ *Cluster, err error) {
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, lock.Close())
		}
	}()
	u, err := serviceUser(ctx, log)
	if err != nil {
		return nil, err
	}
	layout, err := prepareLayout(ctx, dir, u, log)
	if err != nil {
		return nil, errors.Join(err, layout.undo())
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, layout.undo())
		}
	}()
	bin, err := pick(found, layout.major)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		log:     log.With("data_dir", layout.data),
		bin:     bin,
		user:    u,
		layout:  layout,
		logPath: filepath.Join(dir, "postgres.log"),
		lock:    lock,
	}
	if err := c.recoverStale(ctx); err != nil {
		return nil, err
	}
	logf, err := openLog(c.logPath)
	if err != nil {
		return nil, err
	}
	err = c.run(ctx, opts.Port, logf)
	if cerr := logf.Close(); cerr != nil {
		// The server writes through its own copy of the descriptor, so ours
		// failing to close changes nothing for it.
		c.log.Warn("close server log", "err", cerr)
	}
	if err != nil {
		return nil, err
	}
	c.log.Info("PostgreSQL started", "port", c.port, "pid", c.proc.pid, "version", c.bin.major)
	return c, nil
}

// run initialises the cluster when new, configures it and starts the server.
func (c *Cluster) run(ctx context.Context, port int, logf *os.File) (err error) {
	// Checked before initdb so a busy port fails fast and leaves nothing.
	if c.port, err = choosePort(port); err != nil {
		return err
	}
	if c.layout.major == 0 {
		if err := c.initdb(ctx, logf); err != nil {
			return err
		}
	}
	// A free port can be taken by someone else between the check and the
	// server's bind; with port 0 that is retried on a fresh port.
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			if c.port, err = choosePort(port); err != nil {
				return err
			}
		}
		if err := c.configure(); err != nil {
			return err
		}
		err = c.launch(ctx, logf)
		if err == nil || port != 0 || attempt == 3 || !errors.Is(err, errAddrInUse) {
			return err
		}
		c.log.Warn("port taken before the server bound it, retrying", "port", c.port)
	}
}

// prepareDir creates Dir and checks this process can use it, before
// anything else touches it.
func prepareDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", dir, err)
	}
	_, statErr := os.Stat(abs)
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", fmt.Errorf("create cluster directory %s: %w: choose a Dir this user can write", abs, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// Ours to open: the server's user may need to reach data/ inside it.
		if err := os.Chmod(abs, 0o755); err != nil {
			return "", fmt.Errorf("chmod %s: %w", abs, err)
		}
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", fmt.Errorf("resolve %s: %w", dir, err)
	}
	if err := syscall.Access(abs, 0o3 /* W_OK|X_OK */); err != nil {
		fi, statErr := os.Stat(abs)
		if statErr == nil {
			if uid, ownErr := owner(fi); ownErr == nil {
				return "", fmt.Errorf("cluster directory %s is owned by uid %d and not writable by uid %d: choose another Dir or fix its ownership", abs, uid, os.Geteuid())
			}
		}
		return "", fmt.Errorf("cluster directory %s is not writable: %w", abs, err)
	}
	return abs, nil
}

// lockDir takes Dir's lock for the life of the Cluster. It tells a crashed
// owner from a live one: the kernel drops the lock when its holder dies, so a
// server found running under a free lock was abandoned and may be stopped,
// while a held lock means another process is using the cluster right now.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "cluster.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(f) // best effort: only used to name the holder
		cerr := f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.Join(fmt.Errorf("the cluster is in use by another process (pid %s): stop it or choose another Dir", strings.TrimSpace(string(holder))), cerr)
		}
		return nil, errors.Join(fmt.Errorf("lock %s: %w", path, err), cerr)
	}
	if err := f.Truncate(0); err != nil {
		return nil, errors.Join(fmt.Errorf("write %s: %w", path, err), f.Close())
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return nil, errors.Join(fmt.Errorf("write %s: %w", path, err), f.Close())
	}
	return f, nil
}

// maxLog is the size at which postgres.log is rotated to postgres.log.1 at
// start, so a long-lived dev cluster does not fill the disk.
const maxLog = 16 << 20

func openLog(path string) (*os.File, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLog {
		if err := os.Rename(path, path+".1"); err != nil {
			return nil, fmt.Errorf("rotate %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open server log %s: %w", path, err)
	}
	return f, nil
}

// command runs a server program as the server's user, with a clean
// environment: PG* variables of the caller must not redirect pg_ctl.
func (c *Cluster) command(ctx context.Context, tool string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin.path(tool), args...)
	c.prepare(cmd)
	return cmd
}

func (c *Cluster) prepare(cmd *exec.Cmd) {
	cmd.Dir = "/" // the caller's working directory may be unreachable for the server's user
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", "LANG=C", "TZ=UTC"}
	if c.user != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.user.credential()}
	}
}

func (c *Cluster) serverUID() uint32 {
	if c.user != nil {
		return c.user.uid
	}
	return uint32(os.Geteuid())
}

// initdb creates the cluster in a sibling directory and renames it into
// place, so an interrupted initdb never leaves a half-made cluster that a
// later start would take for a real one.
func (c *Cluster) initdb(ctx context.Context, logf *os.File) error {
	tmp := c.layout.data + ".initdb"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove leftover %s: %w", tmp, err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if c.user != nil {
		if err := os.Chown(tmp, int(c.user.uid), int(c.user.gid)); err != nil {
			return fmt.Errorf("chown %s to %s: %w", tmp, c.user.name, err)
		}
	}
	c.log.Info("initialising PostgreSQL cluster", "version", c.bin.major)
	cmd := c.command(ctx, "initdb", "-D", tmp, "-U", Superuser, "-E", "UTF8", "--locale=C",
		"-A", "trust", "--no-instructions")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb failed (%w): %s", err, c.logTail())
	}
	// rename(2) atomically replaces the empty directory made for the data;
	// os.Rename refuses any existing directory as a target.
	if err := syscall.Rename(tmp, c.layout.data); err != nil {
		return fmt.Errorf("move the new cluster into %s: %w", c.layout.data, err)
	}
	c.layout.major = c.bin.major
	return nil
}

// configure writes the settings kamflow owns at every start: the port may
// change, and the data directory may have moved.
//
// synchronous_commit stays on (the default): kamflow's record must survive a
// crash of the server exactly as in production, since the workflows treat a
// finished activity's write as durable. Tests are fast enough without
// trading that away.
func (c *Cluster) configure() error {
	data := c.layout.data
	socket := data
	// The socket path is limited to 107 bytes; with a deep data directory the
	// server runs on TCP only rather than failing to start.
	if len(filepath.Join(data, ".s.PGSQL."+strconv.Itoa(c.port))) > 107 {
		c.log.Info("data directory path too long for a unix socket: TCP only")
		socket = ""
	}
	conf := fmt.Sprintf(`# Written by kamflow (internal/pgcluster) at every start: edits here are lost.
# Use ALTER SYSTEM (postgresql.auto.conf) for your own settings.
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = %s
max_connections = 200
fsync = on
synchronous_commit = on
full_page_writes = on
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%%m [%%p] %%q%%u@%%d '
`, c.port, quoteConf(socket))
	if err := writeOwned(filepath.Join(data, "kamflow.conf"), []byte(conf), c.user); err != nil {
		return err
	}
	// Trust is safe only because nothing but this machine can connect:
	// TCP on the loopback address, and the socket inside the 0700 data
	// directory. No other host line exists.
	hba := `# Written by kamflow (internal/pgcluster) at every start: edits here are lost.
local all all trust
host  all all 127.0.0.1/32 trust
`
	if err := writeOwned(filepath.Join(data, "pg_hba.conf"), []byte(hba), c.user); err != nil {
		return err
	}
	main := filepath.Join(data, "postgresql.conf")
	cur, err := os.ReadFile(main)
	if err != nil {
		return fmt.Errorf("read %s: %w", main, err)
	}
	const include = "include 'kamflow.conf'"
	if !bytes.Contains(cur, []byte(include)) {
		cur = append(cur, "\n# Settings kamflow manages; later lines win.\n"+include+"\n"...)
		if err := writeOwned(main, cur, c.user); err != nil {
			return err
		}
	}
	return nil
}

func quoteConf(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

var errAddrInUse = errors.New("address already in use")

// choosePort returns want when it is free, or a free loopback port for 0.
func choosePort(want int) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(want)))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return 0, fmt.Errorf("port %d on 127.0.0.1 is already in use: stop what listens there, or use port 0 to pick a free one", want)
		}
		return 0, fmt.Errorf("check port %d on 127.0.0.1: %w", want, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("release port %d: %w", port, err)
	}
	return port, nil
}

// launch starts postgres itself rather than through pg_ctl, as our child:
// then the kernel stops it when this process dies (Pdeathsig, SIGINT is a
// fast shutdown), so a crashed worker or a killed test binary does not leave
// a server holding the port, and a failed start is seen the moment the
// process exits.
func (c *Cluster) launch(ctx context.Context, logf *os.File) error {
	cmd := exec.Command(c.bin.path("postgres"), "-D", c.layout.data)
	c.prepare(cmd)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true // a ^C to the worker's terminal is the worker's to handle
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := spawn(cmd)
	if err != nil {
		return fmt.Errorf("run %s: %w", c.bin.path("postgres"), err)
	}
	c.mu.Lock()
	c.proc = p
	c.mu.Unlock()
	if err := c.waitReady(ctx, p); err != nil {
		// Do not leave a half-started server behind.
		if p.running() {
			if kerr := syscall.Kill(p.pid, syscall.SIGQUIT); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
				err = errors.Join(err, fmt.Errorf("stop postgres %d: %w", p.pid, kerr))
			}
			<-p.done
		}
		return err
	}
	return nil
}

// spawn starts cmd from a goroutine locked to its OS thread for the child's
// whole life. Linux sends Pdeathsig when the thread that forked the child
// exits, not the process; the Go runtime may retire idle threads, so an
// unlocked fork could stop the server at a random moment.
func spawn(cmd *exec.Cmd) (*process, error) {
	started := make(chan error, 1)
	p := &process{done: make(chan struct{})}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// startTimeout bounds a start whose ctx has no deadline. Crash recovery
// replays WAL before accepting connections, so it is generous.
const startTimeout = 5 * time.Minute

var bindFailed = regexp.MustCompile(`could not bind .*: Address already in use`)

func (c *Cluster) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	connector, err := pq.NewConnector(c.URL("postgres") + "&connect_timeout=2")
	if err != nil {
		return fmt.Errorf("connect to the new server: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(4)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-p.done:
			err := fmt.Errorf("postgres exited during start (%v): %s", p.err, c.logTail())
			if bindFailed.MatchString(err.Error()) {
				err = fmt.Errorf("%w: %w", errAddrInUse, err)
			}
			return errors.Join(err, db.Close())
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("postgres not ready (last error: %v): %w: %s", last, ctx.Err(), c.logTail()), db.Close())
		case <-tick.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		last = db.PingContext(pctx)
		pcancel()
		if last == nil {
			c.mu.Lock()
			c.admin = db
			c.mu.Unlock()
			return nil
		}
	}
}

// logTail returns the end of postgres.log on one line, for errors: the
// server's own words are what explains a failed start.
func (c *Cluster) logTail() string {
	const lines, window = 8, 16 << 10
	f, err := os.Open(c.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", c.logPath, err)
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	buf := make([]byte, window)
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", c.logPath, err)
	}
	off := max(fi.Size()-window, 0)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("(cannot read %s: %v)", c.logPath, err)
	}
	var keep []string
	for _, l := range strings.Split(string(buf[:n]), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			keep = append(keep, l)
		}
	}
	keep = keep[max(len(keep)-lines, 0):]
	return fmt.Sprintf("%s ends with: %s", c.logPath, strings.Join(keep, " | "))
}

// Port is the TCP port the server listens on at 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// DataDir is the real data directory, for tools like pg_dump -h DataDir.
func (c *Cluster) DataDir() string { return c.layout.data }

// URL is the connection URL for dbname as the superuser, ready for
// store.Open or DATABASE_URL.
func (c *Cluster) URL(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// dbName keeps database names to plain lowercase identifiers, so no quoting
// surprise (case folding, spaces) can make URL(name) miss the database.
var dbName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CreateDatabase creates a new, empty database and returns its URL; it fails
// if the database exists, so a test never inherits another's data.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	db, err := c.adminDB()
	if err != nil {
		return "", err
	}
	if err := CreateDatabaseOn(ctx, db, name); err != nil {
		return "", err
	}
	return c.URL(name), nil
}

// EnsureDatabase creates the database if it is missing and returns its URL,
// for `worker --dev` which reuses its database across restarts.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) (string, error) {
	db, err := c.adminDB()
	if err != nil {
		return "", err
	}
	err = CreateDatabaseOn(ctx, db, name)
	if pq.As(err, pqerror.DuplicateDatabase) != nil {
		err = nil
	}
	if err != nil {
		return "", err
	}
	return c.URL(name), nil
}

// DropDatabase drops a database, disconnecting its sessions; a missing
// database is not an error.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	db, err := c.adminDB()
	if err != nil {
		return err
	}
	return DropDatabaseOn(ctx, db, name)
}

// CreateDatabaseOn runs CREATE DATABASE on an admin connection. Exported for
// pgtest, which also works against clusters it did not start.
func CreateDatabaseOn(ctx context.Context, admin *sql.DB, name string) error {
	if !dbName.MatchString(name) {
		return fmt.Errorf("create database %q: name must match %s", name, dbName)
	}
	// Identifiers cannot be bind parameters; the name is validated above
	// and quoted, the one place SQL text is built from a value.
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// DropDatabaseOn runs DROP DATABASE ... WITH (FORCE) on an admin connection.
func DropDatabaseOn(ctx context.Context, admin *sql.DB, name string) error {
	if !dbName.MatchString(name) {
		return fmt.Errorf("drop database %q: name must match %s", name, dbName)
	}
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func (c *Cluster) adminDB() (*sql.DB, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.admin == nil {
		return nil, errors.New("the PostgreSQL cluster is stopped")
	}
	return c.admin, nil
}

// Stop shuts the server down (fast: open transactions are rolled back, a
// clean checkpoint is written) and waits for it to exit. Calling it again
// does nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	if c.admin != nil {
		if err := c.admin.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close admin connection: %w", err))
		}
	}
	if c.proc != nil && !c.proc.running() {
		c.log.Warn("PostgreSQL had already exited", "pid", c.proc.pid, "err", c.proc.err)
	}
	if c.proc != nil && c.proc.running() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		stopErr := c.pgctlStop(ctx, "fast")
		select {
		case <-c.proc.done:
			// pg_ctl may complain about a server that died under it; what
			// matters is that it is gone.
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("postgres %d did not exit: %w", c.proc.pid, errors.Join(stopErr, ctx.Err())))
		}
		if stopErr == nil {
			c.log.Info("PostgreSQL stopped")
		}
	}
	if err := c.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("release cluster lock: %w", err))
	}
	return errors.Join(errs...)
}

func (c *Cluster) pgctlStop(ctx context.Context, mode string) error {
	out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.layout.data, "-m", mode, "-w", "-t", "60").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %w: %s", mode, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Destroy stops the server and deletes the cluster's files: the data
// directory (also when relocated outside Dir), the log and the lock. Dir
// itself is left to its owner. For tests and throwaway clusters.
func (c *Cluster) Destroy() error {
	errs := []error{c.Stop()}
	paths := []string{c.layout.data, c.logPath, c.logPath + ".1", filepath.Join(c.layout.dir, "cluster.lock")}
	if c.layout.relocated {
		paths = append(paths, c.layout.link, c.layout.data+".dir")
	}
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
