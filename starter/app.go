package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"

	"github.com/kamflow/kamflow/internal/config"
	"github.com/kamflow/kamflow/internal/store"
)

// dialTimeout bounds the first contact with Temporal: an unreachable server
// is one clear line after a few seconds, not a minute of retries.
const dialTimeout = 5 * time.Second

// devEnvFile is what `worker --dev` writes into its data folder.
const devEnvFile = "dev.env"

// app holds what every command shares: the output streams, the global
// flags and the connections, opened on first use and closed by run.
type app struct {
	env            config.Env
	stdout, stderr io.Writer

	taskQueue string
	json      bool
	timeout   time.Duration
	dataDir   string

	outErr error // first failed write to stdout

	devEnv   map[string]string // read once from dataDir/dev.env
	devFile  string
	temporal client.Client
	// converter is the client's data converter, for memos read from visibility.
	converter converter.DataConverter
	store     *store.Store
}

func run(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	a := &app{env: env, stdout: stdout, stderr: stderr}
	defer a.close()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	var usage usageError
	if errors.As(err, &usage) && usage.cmd == "" {
		usage.cmd = cmd.CommandPath()
		return usage
	}
	if err == nil {
		err = a.outErr
	}
	return err
}

// printf writes to stdout and keeps the first failure for run to return:
// a script whose pipe broke must not see exit 0.
func (a *app) printf(format string, args ...any) {
	if _, err := fmt.Fprintf(a.stdout, format, args...); err != nil && a.outErr == nil {
		a.outErr = fmt.Errorf("write output: %w", err)
	}
}

// diag writes a diagnostic line to stderr. A failing stderr has nowhere
// left to be reported, so its error is dropped here, on purpose, once.
func diag(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}

func (a *app) close() {
	if a.temporal != nil {
		a.temporal.Close()
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			diag(a.stderr, "starter: %v\n", err)
		}
	}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "starter",
		Short: "operate kamflow: onboard accounts, feed events, look things up",
		Long: `starter operates kamflow: it onboards key accounts (one, or thousands from a
CSV file), feeds business events, shows an account's status, lists accounts by
stage, tier and manager, works task inboxes, adds managers, checks policy files
and registers kamflow's search attributes on a Temporal cluster.

Temporal is reached through the SDK's standard variables (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_CONFIG_FILE ...),
PostgreSQL through DATABASE_URL. When they are not set, starter reads the
dev.env file that ` + "`worker --dev`" + ` writes into its data folder (.kamflow).

Exit codes: 0 done, 1 some input or request failed, 2 usage error.`,
		Example: `  starter import accounts.csv
  starter events events.csv
  starter status acme-1
  starter list --stage churn_recovery --json`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("a command is required: %s", strings.Join(commandNames(cmd), ", "))
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{err: err, cmd: cmd.CommandPath()}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.taskQueue, "task-queue", envOr(a.env, "KAM_TASK_QUEUE", config.TaskQueue), "Temporal task queue of the kamflow workers [KAM_TASK_QUEUE]")
	pf.BoolVar(&a.json, "json", false, "print JSON for scripts instead of text")
	pf.DurationVar(&a.timeout, "timeout", 30*time.Second, "how long one request to Temporal may take")
	pf.StringVar(&a.dataDir, "data-dir", envOr(a.env, "KAM_DATA_DIR", ".kamflow"), "data folder of 'worker --dev', whose dev.env is read when TEMPORAL_ADDRESS or DATABASE_URL is not set [KAM_DATA_DIR]")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if a.timeout <= 0 {
			return usagef("--timeout %s: want a positive duration such as 30s", a.timeout)
		}
		if strings.TrimSpace(a.taskQueue) == "" {
			return usagef("--task-queue: must not be empty")
		}
		return nil
	}
	root.AddCommand(
		a.startCommand(), a.importCommand(), a.eventCommand(), a.eventsCommand(),
		a.statusCommand(), a.listCommand(), a.tasksCommand(), a.managersCommand(),
		a.closeCommand(), a.policyCommand(), a.setupCommand(),
	)
	return root
}

// noArgs rejects positional arguments as a usage error that names the
// likely command when the argument was a misspelt one.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
		}
		return usagef("%s (commands: %s)", msg, strings.Join(commandNames(cmd), ", "))
	}
	return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
}

// exactArgs wants the named positional arguments, as a usage error.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usagef("missing %s: %s", strings.Join(names[len(args):], " "), cmd.UseLine())
		case len(args) > len(names):
			return usagef("unexpected argument %q: %s", args[len(names)], cmd.UseLine())
		}
		for i, arg := range args {
			if strings.TrimSpace(arg) == "" {
				return usagef("%s must not be empty", names[i])
			}
		}
		return nil
	}
}

func commandNames(cmd *cobra.Command) []string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return names
}

// requireFlags reports every empty required string flag at once.
func requireFlags(cmd *cobra.Command, names ...string) error {
	var missing []string
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f == nil || strings.TrimSpace(f.Value.String()) == "" {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return usagef("missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// lookup reads a variable from the environment, else from dev.env.
func (a *app) lookup(key string) (value, source string) {
	if v := a.env.Get(key); v != "" {
		return v, ""
	}
	if a.devEnv == nil {
		a.devEnv, a.devFile = readDevEnv(a.dataDir)
	}
	if v := a.devEnv[key]; v != "" {
		return v, a.devFile
	}
	return "", ""
}

// readDevEnv reads KEY=VALUE lines; a missing or unreadable file is the
// same as an empty one (the caller then says which variable to set).
func readDevEnv(dir string) (map[string]string, string) {
	path := filepath.Join(dir, devEnvFile)
	vals := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return vals, path
	}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return vals, path
}

// temporalEnv is the environment the Temporal client reads: the process's,
// plus TEMPORAL_ADDRESS (and the dev stack's payload key) from dev.env when
// neither the variable nor a config file says where Temporal is.
func (a *app) temporalEnv() (config.Env, string) {
	env := a.env
	if env.Get("TEMPORAL_ADDRESS") != "" || env.Get("TEMPORAL_CONFIG_FILE") != "" || env.Get("TEMPORAL_PROFILE") != "" {
		return env, ""
	}
	if addr, src := a.lookup("TEMPORAL_ADDRESS"); addr != "" {
		env = append(env[:len(env):len(env)], "TEMPORAL_ADDRESS="+addr)
		// The dev stack's payloads are encrypted with its own key: without
		// it nothing the workflows answer could be read.
		if keys, _ := a.lookup("KAM_ENCRYPTION_KEYS"); keys != "" && a.env.Get("KAM_ENCRYPTION_KEYS") == "" {
			env = append(env, "KAM_ENCRYPTION_KEYS="+keys)
		}
		return env, src
	}
	return env, ""
}

// client dials Temporal once, with a short timeout and a quiet SDK logger.
func (a *app) client(ctx context.Context) (client.Client, error) {
	if a.temporal != nil {
		return a.temporal, nil
	}
	env, src := a.temporalEnv()
	opts, err := config.TemporalClientOptions(env, "")
	if err != nil {
		return nil, err
	}
	opts.Logger = sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		from := ""
		if src != "" {
			from = " (from " + src + ")"
		}
		ns := opts.Namespace
		if ns == "" {
			ns = client.DefaultNamespace
		}
		return nil, fmt.Errorf("cannot reach Temporal at %s%s, namespace %q: %s; start `worker --dev` or set TEMPORAL_ADDRESS", opts.HostPort, from, ns, oneLine(err))
	}
	a.temporal, a.converter = c, opts.DataConverter
	return c, nil
}

// db opens kamflow's PostgreSQL once and brings its schema up to date, so
// `managers add` works before the first worker has started.
func (a *app) db(ctx context.Context) (*store.Store, error) {
	if a.store != nil {
		return a.store, nil
	}
	url, _ := a.lookup("DATABASE_URL")
	if url == "" {
		return nil, fmt.Errorf("DATABASE_URL is not set and %s has none: point it at kamflow's PostgreSQL (postgres://user:pass@host:5432/kamflow) or start `worker --dev`", filepath.Join(a.dataDir, devEnvFile))
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		return nil, errors.Join(err, st.Close())
	}
	a.store = st
	return st, nil
}

// opCtx bounds one request.
func (a *app) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout)
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// oneLine keeps an error on one line: gRPC errors can carry newlines.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func envOr(env config.Env, key, def string) string {
	if v := env.Get(key); v != "" {
		return v
	}
	return def
}

// openInput opens a file named on the command line; a file that is not
// there is a usage error, like a mistyped flag.
func openInput(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usagef("%s: no such file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return f, nil
}
