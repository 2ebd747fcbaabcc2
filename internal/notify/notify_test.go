package notify

import (
	"bufio"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
	"github.com/kamflow/kamflow/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newStore(t *testing.T) (*store.Store, *sql.DB) {
	url := pgtest.Database(t)
	st, err := store.Open(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Migrate(t.Context()))
	db, err := sql.Open("postgres", url)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return st, db
}

// smtpSink is a minimal SMTP server that keeps what it receives.
type smtpSink struct {
	ln   net.Listener
	mu   sync.Mutex
	data []string
}

func newSMTPSink(t *testing.T) *smtpSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &smtpSink{ln: ln}
	t.Cleanup(func() { require.NoError(t, ln.Close()) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	// A write error ends the session at the next read anyway.
	reply := func(line string) { _, _ = io.WriteString(c, line+"\r\n") }
	reply("220 sink ready")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			reply("250-sink")
			reply("250 AUTH PLAIN")
		case strings.HasPrefix(cmd, "AUTH"):
			reply("235 accepted")
		case cmd == "DATA":
			reply("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.data = append(s.data, b.String())
			s.mu.Unlock()
			reply("250 queued")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("250 ok")
		}
	}
}

func TestDispatcherDeliversOnceAndRetriesFailures(t *testing.T) {
	st, db := newStore(t)
	ctx := t.Context()
	sink := newSMTPSink(t)
	var hooks []string
	var keys []string
	fail := true
	var mu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		hooks = append(hooks, string(b))
		keys = append(keys, r.Header.Get("Idempotency-Key"))
	}))
	t.Cleanup(hook.Close)

	smtp, err := ParseSMTP("smtp://" + sink.ln.Addr().String() + "?from=kam@example.com&tls=none")
	require.NoError(t, err)
	_, err = st.EnqueueMail(ctx, store.Mail{ID: "a:survey:1:mail", Channel: store.ChannelMail, Recipient: "黄敏 <huang@example.com>", Subject: "问卷 survey", Body: "Dear 黄敏, please answer", CreatedAt: time.Now()})
	require.NoError(t, err)
	_, err = st.EnqueueMail(ctx, store.Mail{ID: "a:esc:2:webhook", Channel: store.ChannelWebhook, Body: `{"level":2}`, CreatedAt: time.Now()})
	require.NoError(t, err)

	d := &Dispatcher{Store: st, SMTP: smtp, WebhookURL: hook.URL, HTTP: hook.Client(), Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), Every: time.Second}
	channels := []string{store.ChannelMail, store.ChannelWebhook}
	require.NoError(t, d.Once(ctx, channels))
	require.Len(t, sink.data, 1, "the mail went out")
	require.Contains(t, sink.data[0], "Subject: =?UTF-8?", "a Chinese subject is RFC 2047 encoded")
	require.Empty(t, hooks, "the webhook failed the first time")

	// The failed webhook waits before its retry; make it due now.
	require.NoError(t, d.Once(ctx, channels))
	require.Empty(t, hooks, "not retried before its back-off")
	_, err = db.ExecContext(ctx, `UPDATE outbox SET claimed_until = NULL WHERE sent_at IS NULL`)
	require.NoError(t, err)
	require.NoError(t, d.Once(ctx, channels))
	require.Equal(t, []string{`{"level":2}`}, hooks)
	require.Equal(t, []string{"a:esc:2:webhook"}, keys)

	require.NoError(t, d.Once(ctx, channels))
	require.Len(t, sink.data, 1, "nothing is sent twice")
	require.Len(t, hooks, 1)
}

func TestParseSMTP(t *testing.T) {
	for _, tc := range []struct{ in, err string }{
		{"smtp://mail.example.com:587?from=kam@example.com", ""},
		{"smtps://u:p@mail.example.com?from=kam@example.com", ""},
		{"http://mail.example.com", "want smtp://"},
		{"smtp://mail.example.com", "add ?from="},
		{"smtp://mail.example.com:x?from=a@b", "want smtp://"},
		{"smtp://mail.example.com?from=a@b&tls=maybe", "tls=\"maybe\""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseSMTP(tc.in)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}
