// Package config is the one place that reads kamflow's flags and environment.
// A flag beats its environment variable, which beats the default, and the
// environment is passed in rather than read from the process so that tests
// can say exactly what a user would have set.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/kamflow/kamflow/internal/codec"
)

// TaskQueue is the queue every kamflow worker polls.
const TaskQueue = "kamflow"

// Payload encryption settings, read by every process that talks to Temporal.
const (
	// EnvEncryptionKeys holds the AES-256 payload keys, "id1:base64,id2:base64":
	// the first encrypts, all decrypt (see internal/codec).
	EnvEncryptionKeys = "KAM_ENCRYPTION_KEYS"
	// EnvAllowPlaintext lets a production worker run without keys, for a
	// Temporal cluster the operator trusts with customer data in clear.
	EnvAllowPlaintext = "KAM_ALLOW_PLAINTEXT_PAYLOADS"
	// EnvCodecOrigins lists the Temporal UI origins allowed to call the
	// worker's /codec endpoint from a browser.
	EnvCodecOrigins = "KAM_CODEC_ORIGINS"
	// DefaultCodecOrigins are the origins of the Temporal UI of `worker --dev`
	// and of `temporal server start-dev`.
	DefaultCodecOrigins = "http://127.0.0.1:8233,http://localhost:8233"
)

// Stores the dev stack's Temporal server can persist to (--dev-temporal-store).
const (
	// TemporalStoreSQLite is a file in the data folder: the lightest, and
	// what `temporal server start-dev` uses.
	TemporalStoreSQLite = "sqlite"
	// TemporalStorePostgres is the dev stack's private PostgreSQL cluster,
	// the store production Temporal clusters run on.
	TemporalStorePostgres = "postgres"
)

// Worker is the configuration of the worker binary.
type Worker struct {
	// Dev starts the embedded Temporal server, its UI and a private
	// PostgreSQL cluster in DataDir, next to the worker.
	Dev bool
	// Demo loads the demo managers, accounts and events at start (implies a
	// demo policy unless PolicyFile is set).
	Demo bool
	// DemoDir holds the demo's managers, accounts and script.
	DemoDir string
	// ServicesOnly, with Dev, runs the dev stack without the kamflow worker;
	// tests and benchmarks run their own workers against it.
	ServicesOnly bool
	HTTPAddr     string
	DatabaseURL  string
	DataDir      string
	PolicyFile   string
	TaskQueue    string
	LogLevel     slog.Level
	LogFormat    string
	// DevTemporalPort and DevUIPort are where --dev serves Temporal's frontend and UI.
	DevTemporalPort int
	DevUIPort       int
	// DevTemporalStore is where --dev's Temporal server persists:
	// TemporalStoreSQLite or TemporalStorePostgres.
	DevTemporalStore string
	SMTPURL          string
	AlertWebhook     string
	// PublicURL is the base of links sent to customers (survey pages).
	PublicURL string
	// MaxConcurrentActivities and StickyCacheSize tune the SDK worker
	// (SDKOptions).
	MaxConcurrentActivities int
	StickyCacheSize         int
	// AllowPlaintextPayloads lets a worker without --dev start without
	// KAM_ENCRYPTION_KEYS; it is refused otherwise.
	AllowPlaintextPayloads bool
	// CodecOrigins are the browser origins (the Temporal UI) that may call
	// the /codec endpoint; --dev adds its own UI.
	CodecOrigins []string
	// environ is kept for the Temporal client's standard variables.
	environ []string
}

// UsageError marks bad flags or values: the binaries exit with code 2 on it.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Env is a process environment in os.Environ form.
type Env []string

// Get returns the value of key, or "" when unset.
func (e Env) Get(key string) string {
	v, _ := e.LookupEnv(key)
	return v
}

// LookupEnv reports the value of key and whether it is set (last one wins, as in a shell).
func (e Env) LookupEnv(key string) (string, bool) {
	for i := len(e) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(e[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// Environ returns the environment itself; envconfig reads TEMPORAL_GRPC_META_* from it.
func (e Env) Environ() []string { return e }

// LoadWorker parses the worker's command line over defaults taken from env.
// Every mistake is reported at once, each naming the flag or variable at
// fault and what it expects, as a UsageError. The returned FlagSet prints help.
func LoadWorker(args []string, env Env) (Worker, *pflag.FlagSet, error) {
	var w Worker
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.Usage = func() {} // the worker prints its own help with examples
	var envErrs []error
	envInt := func(key string, def int) int { return intFromEnv(env, key, def, &envErrs) }
	envBool := func(key string) bool { return boolFromEnv(env, key, &envErrs) }
	w.LogLevel = slog.LevelInfo
	if v := env.Get("KAM_LOG_LEVEL"); v != "" {
		if err := w.LogLevel.UnmarshalText([]byte(v)); err != nil {
			envErrs = append(envErrs, fmt.Errorf("KAM_LOG_LEVEL %q: want debug, info, warn or error", v))
		}
	}
	fs.BoolVar(&w.Dev, "dev", envBool("KAM_DEV"), "start the embedded Temporal server and UI and a private PostgreSQL (unless DATABASE_URL is set) [KAM_DEV]")
	fs.BoolVar(&w.Demo, "demo", envBool("KAM_DEMO"), "load the demo managers, accounts and events (deploy/demo) at start [KAM_DEMO]")
	fs.StringVar(&w.DemoDir, "demo-dir", envOr(env, "KAM_DEMO_DIR", "deploy/demo"), "with --demo: folder of managers.csv, accounts.csv and script.csv [KAM_DEMO_DIR]")
	fs.BoolVar(&w.ServicesOnly, "services-only", false, "with --dev: run only Temporal, its UI and PostgreSQL, print their addresses, no kamflow worker")
	fs.StringVar(&w.HTTPAddr, "http-addr", envOr(env, "KAM_HTTP_ADDR", "127.0.0.1:8080"), "address of the HTTP server: console, API, /metrics, /healthz [KAM_HTTP_ADDR]")
	fs.StringVar(&w.DatabaseURL, "database-url", env.Get("DATABASE_URL"), "PostgreSQL URL of kamflow's record; required without --dev [DATABASE_URL]")
	fs.StringVar(&w.DataDir, "data-dir", envOr(env, "KAM_DATA_DIR", ".kamflow"), "where --dev keeps the Temporal SQLite file and the PostgreSQL cluster [KAM_DATA_DIR]")
	fs.StringVar(&w.PolicyFile, "policy", env.Get("KAM_POLICY"), "policy YAML file (thresholds, cadences, SLAs); built-in defaults when empty [KAM_POLICY]")
	fs.StringVar(&w.TaskQueue, "task-queue", envOr(env, "KAM_TASK_QUEUE", TaskQueue), "Temporal task queue [KAM_TASK_QUEUE]")
	fs.StringVar(&w.LogFormat, "log-format", env.Get("KAM_LOG_FORMAT"), "text or json; json by default, text with --dev [KAM_LOG_FORMAT]")
	fs.Var(levelValue{&w.LogLevel}, "log-level", "debug, info, warn or error [KAM_LOG_LEVEL]")
	fs.IntVar(&w.DevTemporalPort, "dev-temporal-port", envInt("KAM_DEV_TEMPORAL_PORT", 7233), "with --dev: Temporal frontend port, 0 for any free one [KAM_DEV_TEMPORAL_PORT]")
	fs.IntVar(&w.DevUIPort, "dev-ui-port", envInt("KAM_DEV_UI_PORT", 8233), "with --dev: Temporal UI port, 0 for none [KAM_DEV_UI_PORT]")
	fs.StringVar(&w.DevTemporalStore, "dev-temporal-store", envOr(env, "KAM_DEV_TEMPORAL_STORE", TemporalStoreSQLite), "with --dev: where Temporal persists, sqlite (a file in the data folder) or postgres (the private PostgreSQL cluster) [KAM_DEV_TEMPORAL_STORE]")
	fs.StringVar(&w.SMTPURL, "smtp-url", env.Get("KAM_SMTP_URL"), "smtp://user:pass@host:587?from=kam@example.com; without it mail stays in the outbox table [KAM_SMTP_URL]")
	fs.StringVar(&w.AlertWebhook, "alert-webhook", env.Get("KAM_ALERT_WEBHOOK"), "URL that receives a JSON POST for every escalation [KAM_ALERT_WEBHOOK]")
	fs.StringVar(&w.PublicURL, "public-url", env.Get("KAM_PUBLIC_URL"), "base URL of survey links sent to customers; http://<http-addr> when empty [KAM_PUBLIC_URL]")
	fs.IntVar(&w.MaxConcurrentActivities, "max-concurrent-activities", envInt("KAM_MAX_CONCURRENT_ACTIVITIES", 200), "activities one worker runs at once [KAM_MAX_CONCURRENT_ACTIVITIES]")
	fs.IntVar(&w.StickyCacheSize, "sticky-cache-size", envInt("KAM_STICKY_CACHE_SIZE", 10000), "account workflows kept in the worker's memory [KAM_STICKY_CACHE_SIZE]")
	fs.BoolVar(&w.AllowPlaintextPayloads, "allow-plaintext-payloads", envBool("KAM_ALLOW_PLAINTEXT_PAYLOADS"), "run without KAM_ENCRYPTION_KEYS: customer data reaches Temporal unencrypted [KAM_ALLOW_PLAINTEXT_PAYLOADS]")
	fs.StringSliceVar(&w.CodecOrigins, "codec-origins", splitList(envOr(env, "KAM_CODEC_ORIGINS", DefaultCodecOrigins)), "Temporal UI origins allowed to call /codec from a browser [KAM_CODEC_ORIGINS]")
	if err := fs.Parse(args); err != nil {
		return w, fs, UsageError{err}
	}
	if fs.NArg() > 0 {
		envErrs = append(envErrs, fmt.Errorf("unexpected argument %q: the worker takes flags only (see --help)", fs.Arg(0)))
	}
	if keys := env.Get("KAM_ENCRYPTION_KEYS"); keys != "" {
		if _, err := codec.ParseKeys(keys); err != nil {
			envErrs = append(envErrs, fmt.Errorf("KAM_ENCRYPTION_KEYS: %w", err))
		}
	}
	if err := errors.Join(envErrs...); err != nil {
		return w, fs, UsageError{err}
	}
	w.environ = env
	return w, fs, w.validate()
}

// validate completes defaults that depend on other values and checks them.
func (w *Worker) validate() error {
	if w.LogFormat == "" {
		w.LogFormat = "json"
		if w.Dev {
			w.LogFormat = "text"
		}
	}
	var errs []error
	if w.LogFormat != "json" && w.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", w.LogFormat))
	}
	if _, _, err := net.SplitHostPort(w.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("--http-addr %q: want host:port, e.g. 127.0.0.1:8080", w.HTTPAddr))
	}
	if !w.Dev && w.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL is not set: point it at kamflow's PostgreSQL (postgres://user:pass@host:5432/kamflow) or run with --dev"))
	}
	if w.ServicesOnly && !w.Dev {
		errs = append(errs, errors.New("--services-only needs --dev"))
	}
	if w.DevTemporalPort < 0 || w.DevTemporalPort > 65535 {
		errs = append(errs, fmt.Errorf("--dev-temporal-port %d: want a TCP port from 1 to 65535, or 0 for any free port", w.DevTemporalPort))
	}
	if w.DevUIPort < 0 || w.DevUIPort > 65535 {
		errs = append(errs, fmt.Errorf("--dev-ui-port %d: want a TCP port from 1 to 65535, or 0 for no UI", w.DevUIPort))
	}
	if w.DevTemporalStore != TemporalStoreSQLite && w.DevTemporalStore != TemporalStorePostgres {
		errs = append(errs, fmt.Errorf("--dev-temporal-store %q: want %s or %s", w.DevTemporalStore, TemporalStoreSQLite, TemporalStorePostgres))
	} else if w.Dev && w.DevTemporalStore == TemporalStorePostgres && w.DatabaseURL != "" {
		// The dev stack starts no cluster of its own when given a database,
		// and Temporal must not create its databases in someone else's server.
		errs = append(errs, errors.New("--dev-temporal-store postgres keeps Temporal in the dev stack's private PostgreSQL, which DATABASE_URL turns off: unset DATABASE_URL or use --dev-temporal-store sqlite"))
	}
	if w.MaxConcurrentActivities < 1 || w.StickyCacheSize < 1 {
		errs = append(errs, errors.New("--max-concurrent-activities and --sticky-cache-size must be positive"))
	}
	if w.PublicURL == "" {
		w.PublicURL = "http://" + w.HTTPAddr
	}
	if !w.Dev && !w.AllowPlaintextPayloads && Env(w.environ).Get(EnvEncryptionKeys) == "" {
		errs = append(errs, errors.New("KAM_ENCRYPTION_KEYS is not set: customer names, contacts and notes would reach Temporal unencrypted; "+
			"set it to id:base64-key (a key: openssl rand -base64 32), or set KAM_ALLOW_PLAINTEXT_PAYLOADS=true to accept plain text payloads"))
	}
	for i, o := range w.CodecOrigins {
		w.CodecOrigins[i] = strings.TrimSuffix(o, "/") // browsers send no trailing slash
		if !validOrigin(o) {
			errs = append(errs, fmt.Errorf("--codec-origins %q: want a browser origin such as http://127.0.0.1:8233 (scheme://host[:port], no path)", o))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return UsageError{err}
	}
	return nil
}

// TemporalClientOptions reads the SDK's standard TEMPORAL_* variables (and
// TEMPORAL_CONFIG_FILE profiles). address, when not empty, overrides them: the
// dev stack knows where its own server listens.
func TemporalClientOptions(env Env, address string) (client.Options, error) {
	opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{EnvLookup: env})
	if err != nil {
		return client.Options{}, UsageError{fmt.Errorf("temporal client settings: %w", err)}
	}
	if address != "" {
		opts.HostPort = address
	}
	if opts.HostPort == "" {
		opts.HostPort = "127.0.0.1:7233"
	}
	c, err := PayloadCodec(env)
	if err != nil {
		return client.Options{}, err
	}
	if c != nil {
		// Payloads (inputs, results, signals, memos, queries, user metadata)
		// and failure messages are sealed before they leave the process;
		// search attributes stay readable, the server indexes them.
		dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
		opts.DataConverter = dc
		opts.FailureConverter = temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
			DataConverter: dc, EncodeCommonAttributes: true,
		})
	}
	return opts, nil
}

// PayloadCodec is the payload encryption configured by KAM_ENCRYPTION_KEYS,
// or nil when the variable is unset. A malformed key list is a UsageError
// that names the faulty entry but never its key material.
func PayloadCodec(env Env) (*codec.Codec, error) {
	keys := env.Get(EnvEncryptionKeys)
	if keys == "" {
		return nil, nil
	}
	c, err := codec.ParseKeys(keys)
	if err != nil {
		return nil, UsageError{fmt.Errorf("%s: %w", EnvEncryptionKeys, err)}
	}
	return c, nil
}

// Environ returns the environment the configuration was loaded from.
func (w *Worker) Environ() Env { return w.environ }

// splitList reads a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// validOrigin accepts what a browser sends in Origin: scheme://host[:port].
func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.User == nil && u.Fragment == ""
}

func envOr(env Env, key, def string) string {
	if v := env.Get(key); v != "" {
		return v
	}
	return def
}

func boolFromEnv(env Env, key string, errs *[]error) bool {
	v := env.Get(key)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s %q: want true or false", key, v))
	}
	return b
}

func intFromEnv(env Env, key string, def int, errs *[]error) int {
	v := env.Get(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s %q: want a whole number", key, v))
		return def
	}
	return n
}

type levelValue struct{ l *slog.Level }

func (v levelValue) String() string {
	if v.l == nil {
		return "info"
	}
	return strings.ToLower(v.l.String())
}
func (v levelValue) Set(s string) error { return v.l.UnmarshalText([]byte(s)) }
func (v levelValue) Type() string       { return "level" }

// SDKOptions are the SDK worker's options this configuration sets. The
// limit on activities covers both kinds: account runs execute theirs as
// local activities, runs from before that change as remote ones. The sticky
// cache size is process-wide in the SDK (worker.SetStickyWorkflowCacheSize).
func (w Worker) SDKOptions() sdkworker.Options {
	return sdkworker.Options{
		MaxConcurrentActivityExecutionSize:      w.MaxConcurrentActivities,
		MaxConcurrentLocalActivityExecutionSize: w.MaxConcurrentActivities,
	}
}
