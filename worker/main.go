// Command worker runs kamflow: it polls the kamflow task queue for account
// workflows and activities, and serves the console, the API, /metrics and
// the health checks. With --dev it first starts everything it needs on this
// machine: an embedded Temporal server with its UI and a private PostgreSQL.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/api"
	"github.com/kamflow/kamflow/internal/codec"
	"github.com/kamflow/kamflow/internal/config"
	"github.com/kamflow/kamflow/internal/demo"
	"github.com/kamflow/kamflow/internal/devstack"
	"github.com/kamflow/kamflow/internal/metrics"
	"github.com/kamflow/kamflow/internal/notify"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/workflows"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], config.Env(os.Environ()), os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode is the one place that turns an error into the process's exit
// status: 2 for usage errors, 1 for everything else.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "worker:", err)
	var usage config.UsageError
	if errors.As(err, &usage) {
		fmt.Fprintln(stderr, "run `worker --help` for the flags")
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	cfg, fs, err := config.LoadWorker(args, env)
	if err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printHelp(stdout, fs)
			return nil
		}
		return err
	}
	secrets := &redactor{}
	secrets.add(logSecrets(cfg, env)...)
	logger := newLogger(cfg, stderr, secrets)

	// Bind the HTTP port before starting anything, so a port in use fails
	// with nothing half-started. --services-only serves no HTTP.
	var httpLn net.Listener
	if !cfg.ServicesOnly {
		if httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("http address %s is not available (%v): stop what listens there or set KAM_HTTP_ADDR", cfg.HTTPAddr, err)
		}
		defer httpLn.Close()
		if cfg.PublicURL == "http://"+cfg.HTTPAddr {
			// The default follows the address actually bound, which port 0
			// leaves to the system: survey links must reach this server.
			cfg.PublicURL = "http://" + dialable(httpLn.Addr())
		}
	}

	var temporalAddr, temporalUIURL string
	if cfg.Dev {
		started := time.Now()
		codecEndpoint := ""
		if !cfg.ServicesOnly {
			codecEndpoint = "http://" + dialable(httpLn.Addr()) + "/codec"
		}
		stack, err := devstack.Start(ctx, devstack.Options{
			DataDir:            cfg.DataDir,
			DatabaseURL:        cfg.DatabaseURL,
			TemporalOnPostgres: cfg.DevTemporalStore == config.TemporalStorePostgres,
			TemporalPort:       cfg.DevTemporalPort,
			UIPort:             cfg.DevUIPort,
			SearchAttributes:   workflows.SearchAttributes,
			CodecEndpoint:      codecEndpoint,
			EncryptionKeys:     env.Get(config.EnvEncryptionKeys),
			Logger:             logger,
		})
		if err != nil {
			return err
		}
		defer stack.Stop()
		cfg.DatabaseURL, temporalAddr, temporalUIURL = stack.DatabaseURL, stack.TemporalAddress, stack.UIURL
		if env.Get(config.EnvEncryptionKeys) == "" {
			// The dev key, so this worker encrypts like a production one.
			env = append(env[:len(env):len(env)], config.EnvEncryptionKeys+"="+stack.EncryptionKeys)
			secrets.add(keyMaterial(stack.EncryptionKeys)...)
		}
		if stack.UIURL != "" {
			cfg.CodecOrigins = append(cfg.CodecOrigins, stack.UIURL)
		}
		logger.Info("dev stack started", "temporal", stack.TemporalAddress, "temporal_store", cfg.DevTemporalStore, "temporal_ui", stack.UIURL, "took", time.Since(started).Round(time.Millisecond))
		if cfg.ServicesOnly {
			fmt.Fprintf(stdout, "TEMPORAL_ADDRESS=%s\nKAM_TEST_PG_URL=%s\n", stack.TemporalAddress, stack.AdminDatabaseURL)
			<-ctx.Done()
			return nil
		}
	}

	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	pol := policy.Default()
	if cfg.PolicyFile != "" {
		if pol, err = policy.Load(cfg.PolicyFile); err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	// Levels (accounts by stage, open tasks) are read from the record at
	// scrape time, so every worker reports the same truth.
	reg.MustRegister(metrics.NewLevelsCollector(st, metrics.LevelsOptions{Logger: logger}))
	sdkMetrics, flushMetrics := metrics.SDKHandler(reg)
	defer flushMetrics.Close()

	opts, err := config.TemporalClientOptions(env, temporalAddr)
	if err != nil {
		return err
	}
	payloadCodec, err := config.PayloadCodec(env)
	if err != nil {
		return err
	}
	if payloadCodec != nil {
		logger.Info("payload encryption on", "encrypts_with", payloadCodec.ActiveKeyID(), "decrypts", strings.Join(payloadCodec.KeyIDs(), ","))
	} else {
		logger.Warn("payload encryption off: customer data reaches Temporal in plain text (KAM_ALLOW_PLAINTEXT_PAYLOADS)")
	}
	opts.Logger = sdklog.NewStructuredLogger(logger)
	opts.MetricsHandler = sdkMetrics
	dialCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	c, err := client.DialContext(dialCtx, opts)
	cancel()
	if err != nil {
		return fmt.Errorf("cannot reach Temporal at %s (namespace %q): %v; start a Temporal server, set TEMPORAL_ADDRESS, or run with --dev", opts.HostPort, orDefault(opts.Namespace, "default"), err)
	}
	defer c.Close()

	secret, err := surveySecret(cfg, env)
	if err != nil {
		return err
	}
	var smtp *notify.SMTP
	if cfg.SMTPURL != "" {
		if smtp, err = notify.ParseSMTP(cfg.SMTPURL); err != nil {
			return config.UsageError{Err: err}
		}
	}
	acts := &activities.Activities{
		Store: st, Policy: func() policy.Policy { return pol }, Metrics: m,
		PublicURL: cfg.PublicURL, SurveySecret: secret, Webhook: cfg.AlertWebhook != "", Now: time.Now,
	}
	sdkworker.SetStickyWorkflowCacheSize(cfg.StickyCacheSize)
	w := sdkworker.New(c, cfg.TaskQueue, cfg.SDKOptions())
	w.RegisterWorkflowWithOptions(workflows.AccountLifecycle, workflow.RegisterOptions{Name: workflows.WorkflowType})
	w.RegisterActivity(acts)

	ready := make(chan struct{})
	srv := &http.Server{
		Handler: api.New(api.Deps{
			Store: st, Temporal: c, Gatherer: reg, Metrics: m, Logger: logger, Ready: ready,
			Activities: acts, TaskQueue: cfg.TaskQueue,
			Codec: codecOrNil(payloadCodec), CodecOrigins: cfg.CodecOrigins,
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(httpLn) }()

	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on task queue %s: %w", cfg.TaskQueue, err)
	}
	dispatcher := &notify.Dispatcher{
		Store: st, SMTP: smtp, WebhookURL: cfg.AlertWebhook, HTTP: &http.Client{Timeout: 15 * time.Second},
		Logger: logger, Every: 2 * time.Second,
	}
	go dispatcher.Run(ctx)
	defer w.Stop()
	close(ready)
	base := "http://" + dialable(httpLn.Addr())
	logger.Info("kamflow is ready", "console", base+"/", "metrics", base+"/metrics", "task_queue", cfg.TaskQueue)
	if cfg.Demo {
		d := demo.Deps{Store: st, Temporal: c, TaskQueue: cfg.TaskQueue, Dir: cfg.DemoDir, Logger: logger,
			PublicURL: cfg.PublicURL, SurveySecret: secret, HTTP: &http.Client{Timeout: 10 * time.Second}}
		players, err := demo.Load(ctx, d)
		if err != nil {
			return err
		}
		go demo.Play(ctx, d, players)
		fmt.Fprintf(stdout, `
kamflow demo is running
  console      http://%[1]s/   sign in with a demo token: demo-mia (manager), demo-sam (supervisor),
                                  demo-senior (senior management), demo-ops (ops); all in deploy/demo/managers.csv
  Temporal UI  %[2]s   payloads are encrypted: sign in to the console above as
                                  demo-ops or demo-senior in the same browser to read them there
  metrics      http://%[1]s/metrics
  accounts reach every stage within about two minutes; Ctrl-C stops everything.
`, cfg.HTTPAddr, orDefault(temporalUIURL, "(not served)"))
	}

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("http shutdown", "error", err)
	}
	return nil
}

// surveySecret keys survey tokens. Production sets KAM_SURVEY_SECRET; the
// dev stack keeps a generated one in its data folder so links survive restarts.
func surveySecret(cfg config.Worker, env config.Env) ([]byte, error) {
	if s := env.Get("KAM_SURVEY_SECRET"); s != "" {
		return []byte(s), nil
	}
	if !cfg.Dev {
		return nil, config.UsageError{Err: errors.New("KAM_SURVEY_SECRET is not set: give it 32 or more random characters (survey links are signed with it)")}
	}
	return devstack.Secret(filepath.Join(cfg.DataDir, "survey.secret"))
}

func printHelp(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintf(w, `worker runs kamflow's account workflows and serves its console, API and metrics.

Usage:
  worker --dev [--demo --policy deploy/demo/policy.yaml]   everything on this machine
  worker                                                  against TEMPORAL_ADDRESS and DATABASE_URL

Examples:
  worker --dev --demo --policy deploy/demo/policy.yaml
  DATABASE_URL=postgres://kam:secret@db:5432/kamflow TEMPORAL_ADDRESS=temporal:7233 worker

Flags (each also read from the environment variable in brackets; a flag wins):
%s
The Temporal client also reads the SDK's standard TEMPORAL_* variables
(TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, ...).

Payloads are encrypted with the AES-256 keys in KAM_ENCRYPTION_KEYS
("id1:base64-key,id2:base64-key"; the first encrypts, all decrypt; a key:
openssl rand -base64 32). Without --dev the worker refuses to start without
them unless KAM_ALLOW_PLAINTEXT_PAYLOADS=true; --dev generates a dev key in
its data folder. The Temporal UI decrypts through this worker's /codec
endpoint (ops and senior management only).
`, fs.FlagUsages())
}

func newLogger(cfg config.Worker, w io.Writer, secrets *redactor) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel, ReplaceAttr: secrets.replaceAttr}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// logSecrets lists the configured values no log line may carry: passwords
// in the database and SMTP URLs, a webhook URL's path and query (chat
// webhooks carry their credential there, and net/http quotes the URL in
// every error), the survey secret, the Temporal API key and the payload keys.
func logSecrets(cfg config.Worker, env config.Env) []string {
	var out []string
	for _, raw := range []string{cfg.DatabaseURL, cfg.SMTPURL} {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				out = append(out, pw, url.QueryEscape(pw), url.PathEscape(pw))
			}
		}
	}
	if u, err := url.Parse(cfg.AlertWebhook); err == nil {
		out = append(out, u.EscapedPath(), u.Path, u.RawQuery)
	}
	out = append(out, env.Get("KAM_SURVEY_SECRET"), env.Get("TEMPORAL_API_KEY"))
	return append(out, keyMaterial(env.Get(config.EnvEncryptionKeys))...)
}

// keyMaterial returns the base64 keys of a KAM_ENCRYPTION_KEYS list.
func keyMaterial(keys string) []string {
	var out []string
	for _, entry := range strings.Split(keys, ",") {
		if _, key, ok := strings.Cut(entry, ":"); ok {
			out = append(out, strings.TrimSpace(key))
		}
	}
	return out
}

// redactor blanks secrets out of every log record, the SDK's included: the
// last line of defence behind code that already avoids logging them, for
// the error texts of libraries that quote what they were given.
type redactor struct {
	r atomic.Pointer[strings.Replacer]
	// mu serialises add; readers only load r.
	mu      sync.Mutex
	secrets []string
}

// minSecret keeps short values (an empty query, a "/" path) from blanking
// out ordinary words in every line.
const minSecret = 6

func (x *redactor) add(secrets ...string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= minSecret && !slices.Contains(x.secrets, s) {
			x.secrets = append(x.secrets, s)
		}
	}
	// Longest first, so a secret containing another is blanked whole.
	slices.SortFunc(x.secrets, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, s := range x.secrets {
		pairs = append(pairs, s, "[redacted]")
	}
	x.r.Store(strings.NewReplacer(pairs...))
}

func (x *redactor) replaceAttr(_ []string, a slog.Attr) slog.Attr {
	r := x.r.Load()
	if r == nil {
		return a
	}
	var s string
	switch a.Value.Kind() {
	case slog.KindString:
		s = a.Value.String()
	case slog.KindAny:
		switch v := a.Value.Any().(type) {
		case error:
			s = v.Error()
		case fmt.Stringer:
			s = v.String()
		default:
			return a
		}
	default:
		return a
	}
	if clean := r.Replace(s); clean != s {
		a.Value = slog.StringValue(clean)
	}
	return a
}

// dialable is the listener's address as a client reaches it: a wildcard
// bind (0.0.0.0, ::) is reached on loopback from this machine.
func dialable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// codecOrNil keeps a nil *codec.Codec from becoming a non-nil interface,
// which would serve /codec without a codec behind it.
func codecOrNil(c *codec.Codec) converter.PayloadCodec {
	if c == nil {
		return nil
	}
	return c
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
