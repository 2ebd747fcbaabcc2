package config

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

// plain lets production settings load without encryption keys, which
// these tests are not about.
const plain = "KAM_ALLOW_PLAINTEXT_PAYLOADS=true"

func TestFlagBeatsEnvBeatsDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  Env
		want func(*testing.T, Worker)
	}{
		{"defaults", []string{"--dev"}, nil, func(t *testing.T, w Worker) {
			require.Equal(t, "127.0.0.1:8080", w.HTTPAddr)
			require.Equal(t, ".kamflow", w.DataDir)
			require.Equal(t, TaskQueue, w.TaskQueue)
			require.Equal(t, 7233, w.DevTemporalPort)
			require.Equal(t, "text", w.LogFormat, "text logs with --dev")
			require.Equal(t, slog.LevelInfo, w.LogLevel)
			require.Equal(t, "http://127.0.0.1:8080", w.PublicURL)
			require.Equal(t, TemporalStoreSQLite, w.DevTemporalStore)
		}},
		{"temporal store from env", []string{"--dev"}, Env{"KAM_DEV_TEMPORAL_STORE=postgres"}, func(t *testing.T, w Worker) {
			require.Equal(t, TemporalStorePostgres, w.DevTemporalStore)
		}},
		{"env", nil, Env{plain, "DATABASE_URL=postgres://db/kam", "KAM_HTTP_ADDR=0.0.0.0:9000", "KAM_LOG_LEVEL=debug", "KAM_STICKY_CACHE_SIZE=42"}, func(t *testing.T, w Worker) {
			require.Equal(t, "0.0.0.0:9000", w.HTTPAddr)
			require.Equal(t, slog.LevelDebug, w.LogLevel)
			require.Equal(t, 42, w.StickyCacheSize)
			require.Equal(t, "json", w.LogFormat, "json logs in production")
		}},
		{"flag beats env", []string{"--http-addr", "127.0.0.1:7000", "--log-level", "warn"}, Env{plain, "DATABASE_URL=postgres://db/kam", "KAM_HTTP_ADDR=0.0.0.0:9000", "KAM_LOG_LEVEL=debug"}, func(t *testing.T, w Worker) {
			require.Equal(t, "127.0.0.1:7000", w.HTTPAddr)
			require.Equal(t, slog.LevelWarn, w.LogLevel)
		}},
		{"last assignment wins, as in a shell", nil, Env{plain, "DATABASE_URL=a", "DATABASE_URL=postgres://second"}, func(t *testing.T, w Worker) {
			require.Equal(t, "postgres://second", w.DatabaseURL)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _, err := LoadWorker(tc.args, tc.env)
			require.NoError(t, err)
			tc.want(t, w)
		})
	}
}

func TestBadInputNamesTheCulprit(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  Env
		want []string
	}{
		{"no database", nil, nil, []string{"DATABASE_URL is not set", "--dev"}},
		{"bad env number", []string{"--dev"}, Env{"KAM_STICKY_CACHE_SIZE=lots"}, []string{`KAM_STICKY_CACHE_SIZE "lots": want a whole number`}},
		{"bad env bool", nil, Env{"KAM_DEV=yes please"}, []string{`KAM_DEV "yes please": want true or false`}},
		{"bad level", []string{"--dev"}, Env{"KAM_LOG_LEVEL=loud"}, []string{`KAM_LOG_LEVEL "loud"`}},
		{"bad address", []string{"--dev", "--http-addr", "8080"}, nil, []string{`--http-addr "8080": want host:port`}},
		{"bad port", []string{"--dev", "--dev-temporal-port", "70000"}, nil, []string{"--dev-temporal-port 70000"}},
		{"bad temporal store", []string{"--dev", "--dev-temporal-store", "mysql"}, nil, []string{`--dev-temporal-store "mysql": want sqlite or postgres`}},
		{"temporal store from env", []string{"--dev"}, Env{"KAM_DEV_TEMPORAL_STORE=cassandra"}, []string{`--dev-temporal-store "cassandra"`}},
		{"postgres store without the private cluster", []string{"--dev", "--dev-temporal-store", "postgres"}, Env{"DATABASE_URL=postgres://db/kam"}, []string{"unset DATABASE_URL"}},
		{"services-only alone", []string{"--services-only"}, Env{"DATABASE_URL=x"}, []string{"--services-only needs --dev"}},
		{"stray argument", []string{"--dev", "now"}, nil, []string{`unexpected argument "now"`}},
		{"several at once", []string{"--log-format", "xml", "--http-addr", "nope"}, nil, []string{"--log-format", "--http-addr", "DATABASE_URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := LoadWorker(tc.args, tc.env)
			var usage UsageError
			require.ErrorAs(t, err, &usage, "bad input is a usage error (exit 2)")
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	_, fs, err := LoadWorker([]string{"--help"}, nil)
	require.ErrorIs(t, err, pflag.ErrHelp)
	usage := fs.FlagUsages()
	for _, v := range []string{"KAM_HTTP_ADDR", "DATABASE_URL", "KAM_DATA_DIR", "KAM_POLICY", "KAM_SMTP_URL"} {
		require.True(t, strings.Contains(usage, v), "help names %s", v)
	}
}

func TestTemporalClientOptions(t *testing.T) {
	opts, err := TemporalClientOptions(Env{"TEMPORAL_ADDRESS=temporal.example:7233", "TEMPORAL_NAMESPACE=kam"}, "")
	require.NoError(t, err)
	require.Equal(t, "temporal.example:7233", opts.HostPort)
	require.Equal(t, "kam", opts.Namespace)
	opts, err = TemporalClientOptions(Env{"TEMPORAL_ADDRESS=temporal.example:7233"}, "127.0.0.1:7233")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:7233", opts.HostPort, "the dev stack knows where its server is")
}
