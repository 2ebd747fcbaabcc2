// Package devstack runs the parts of kamflow's one-machine stack that a
// newcomer would otherwise have to install: an embedded Temporal server on a
// SQLite file (or in the private cluster, on request), the Temporal UI, and
// a private PostgreSQL cluster.
//
// It is the only package that links go.temporal.io/server and the UI server,
// so only the worker binary pays for them.
package devstack

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// TemporalOptions configures the embedded Temporal server.
type TemporalOptions struct {
	// IP all services bind to; loopback by default.
	IP string
	// FrontendPort is the gRPC port clients dial (7233 by convention); 0
	// picks a free one.
	FrontendPort int
	// UIPort serves the Temporal UI; 0 disables it.
	UIPort int
	// DatabaseFile is the SQLite file that keeps workflows across restarts,
	// unless Postgres is set.
	DatabaseFile string
	// Postgres, when set, keeps them in PostgreSQL instead.
	Postgres *PostgresStore
	// Namespace is created at start when missing.
	Namespace string
	// SearchAttributes are registered in Namespace.
	SearchAttributes map[string]enumspb.IndexedValueType
	// CodecEndpoint, when set, lets the UI decode encrypted payloads.
	CodecEndpoint string
	// LogLevel of the server's own logs: debug, info, warn or error.
	LogLevel string
}

// Temporal is a running embedded Temporal server and, optionally, its UI.
type Temporal struct {
	server temporal.Server
	ui     *uiserver.Server
	// Address is the frontend's host:port.
	Address string
	// UIURL is where the Temporal UI answers, empty without a UI.
	UIURL string
}

// StartTemporal starts the server and waits until its frontend accepts calls.
func StartTemporal(opts TemporalOptions) (*Temporal, error) {
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "error"
	}
	var ports heldPorts
	defer ports.release()
	if opts.FrontendPort == 0 {
		port, err := ports.take(opts.IP)
		if err != nil {
			return nil, err
		}
		opts.FrontendPort = port
	} else if err := portFree(net.JoinHostPort(opts.IP, strconv.Itoa(opts.FrontendPort))); err != nil {
		return nil, err
	}
	frontend := net.JoinHostPort(opts.IP, strconv.Itoa(opts.FrontendPort))
	var uiAddr string
	if opts.UIPort != 0 {
		uiAddr = net.JoinHostPort(opts.IP, strconv.Itoa(opts.UIPort))
		if err := portFree(uiAddr); err != nil {
			return nil, err
		}
	}
	conf, err := opts.serverConfig(&ports)
	if err != nil {
		return nil, err
	}
	logger := tlog.NewZapLogger(tlog.BuildZapLogger(tlog.Config{Level: opts.LogLevel, Format: "json"}))
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("temporal authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("temporal claim mapper: %w", err)
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range conf.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(opts.IP, strconv.Itoa(svc.RPC.GRPCPort)))
	}
	ports.release()
	server, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(devDynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("build temporal server: %w", err)
	}
	if err := server.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	t := &Temporal{server: server, Address: frontend}
	if uiAddr != "" {
		t.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host:                opts.IP,
			Port:                opts.UIPort,
			TemporalGRPCAddress: frontend,
			EnableUI:            true,
			DefaultNamespace:    opts.Namespace,
			Codec:               uiconfig.Codec{Endpoint: opts.CodecEndpoint, IncludeCredentials: opts.CodecEndpoint != ""},
			CORS:                uiconfig.CORS{CookieInsecure: true},
			HideLogs:            true,
			DisableNewsFetch:    true,
		}))
		uiErr := make(chan error, 1)
		go func() { uiErr <- t.ui.Start() }()
		if err := waitListening(uiAddr, uiErr); err != nil {
			t.Stop()
			return nil, fmt.Errorf("start temporal ui: %w", err)
		}
		t.UIURL = "http://" + uiAddr
	}
	return t, nil
}

// Stop stops the UI and the server; it is safe on a partly started stack.
func (t *Temporal) Stop() {
	if t.ui != nil {
		t.ui.Stop()
	}
	if t.server != nil {
		// Stop's error only reports services that were already stopping.
		_ = t.server.Stop()
	}
}

// devDynamicConfig lifts the limits that make a single-host server throttle
// itself long before the disk or the CPU is busy. It is the same for both
// stores, so that SQLite and PostgreSQL compare on persistence alone.
func devDynamicConfig() dynamicconfig.StaticClient {
	const unlimitedQPS = 100000
	dc := dynamicconfig.StaticClient{}
	for _, s := range []dynamicconfig.GenericSetting{
		dynamicconfig.FrontendPersistenceMaxQPS, dynamicconfig.FrontendPersistenceGlobalMaxQPS,
		dynamicconfig.FrontendPersistenceNamespaceMaxQPS,
		dynamicconfig.HistoryPersistenceMaxQPS, dynamicconfig.HistoryPersistenceGlobalMaxQPS,
		dynamicconfig.HistoryPersistenceNamespaceMaxQPS,
		dynamicconfig.MatchingPersistenceMaxQPS, dynamicconfig.MatchingPersistenceGlobalMaxQPS,
		dynamicconfig.MatchingPersistenceNamespaceMaxQPS,
		dynamicconfig.WorkerPersistenceMaxQPS, dynamicconfig.WorkerPersistenceGlobalMaxQPS,
		dynamicconfig.WorkerPersistenceNamespaceMaxQPS,
		dynamicconfig.FrontendRPS, dynamicconfig.FrontendMaxNamespaceRPSPerInstance,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance,
	} {
		dc[s.Key()] = unlimitedQPS
	}
	// Every open account stays in the history cache instead of being reloaded
	// from the store on each signal.
	dc[dynamicconfig.HistoryCacheHostLevelMaxSize.Key()] = 32768
	// Search attributes registered at start are usable by the first query.
	dc[dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key()] = true
	return dc
}

func (o TemporalOptions) serverConfig(ports *heldPorts) (*config.Config, error) {
	httpPort, err := ports.take(o.IP)
	if err != nil {
		return nil, err
	}
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30e9
	conf.Global.Membership.BroadcastAddress = o.IP
	conf.Persistence.NumHistoryShards = 1
	if err := o.persistence(&conf.Persistence); err != nil {
		return nil, err
	}
	const clusterName = "active"
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled:                true,
			InitialFailoverVersion: 1,
			RPCAddress:             net.JoinHostPort(o.IP, strconv.Itoa(o.FrontendPort)),
			HTTPAddress:            net.JoinHostPort(o.IP, strconv.Itoa(httpPort)),
			ClusterID:              "kamflow-dev",
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = o.IP
		if name == "frontend" {
			svc.RPC.GRPCPort = o.FrontendPort
			svc.RPC.HTTPPort = httpPort
		} else if svc.RPC.GRPCPort, err = ports.take(o.IP); err != nil {
			return nil, err
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = net.JoinHostPort(o.IP, strconv.Itoa(o.FrontendPort))
	return &conf, nil
}

// persistence points the server at its store, with the schema in place
// and the namespace with its search attributes created whenever missing.
func (o TemporalOptions) persistence(p *config.Persistence) error {
	var main *config.SQL
	if o.Postgres != nil {
		var visibility *config.SQL
		var err error
		if main, visibility, err = o.Postgres.postgresConfig(); err != nil {
			return err
		}
		p.DefaultStore, p.VisibilityStore = "postgres", "postgres-visibility"
		p.DataStores = map[string]config.DataStore{"postgres": {SQL: main}, "postgres-visibility": {SQL: visibility}}
	} else {
		var err error
		if main, err = o.sqliteConfig(); err != nil {
			return err
		}
		p.DefaultStore, p.VisibilityStore = "sqlite", "sqlite"
		p.DataStores = map[string]config.DataStore{"sqlite": {SQL: main}}
	}
	// The sqlite schema package writes the namespace record through the
	// generic SQL persistence layer of main's plugin, so it serves the
	// PostgreSQL store alike. Custom search attributes become aliases of
	// the visibility table's predefined columns (Keyword01 ...) in the
	// namespace record, which is how SQL visibility on either database
	// knows them: no operator call after start, and no wait for the
	// namespace cache to see a namespace registered through the API.
	ns, err := sqliteschema.NewNamespaceConfig("active", o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", o.Namespace, err)
	}
	if err := sqliteschema.CreateNamespaces(main, ns); err != nil {
		return fmt.Errorf("create namespace %s in temporal database %s: %w", o.Namespace, main.DatabaseName, err)
	}
	return nil
}

// sqliteConfig creates the schema on first use.
func (o TemporalOptions) sqliteConfig() (*config.SQL, error) {
	conf := &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: o.DatabaseFile,
		// WAL with synchronous=NORMAL survives a process crash (what a dev
		// stack must) at a fraction of the fsyncs of the default journal.
		// One connection: with several, a read transaction that turns into a
		// write fails with SQLITE_BUSY_SNAPSHOT (517) under load, which no
		// busy timeout cures.
		ConnectAttributes: map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "1", "busy_timeout": "10000"},
	}
	if _, err := os.Stat(o.DatabaseFile); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(o.DatabaseFile), 0o700); err != nil {
			return nil, fmt.Errorf("create folder for %s: %w", o.DatabaseFile, err)
		}
		if err := sqliteschema.SetupSchema(conf); err != nil {
			return nil, fmt.Errorf("create temporal schema in %s: %w", o.DatabaseFile, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("temporal database %s: %w", o.DatabaseFile, err)
	}
	return conf, nil
}
