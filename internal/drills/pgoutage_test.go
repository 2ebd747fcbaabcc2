package drills

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/pgcluster"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/workflows"
)

// TestDrillPostgresOutage stops the PostgreSQL server under a running
// worker for 30 seconds while events keep arriving, then starts it again.
// Meanwhile /healthz answers 503 naming postgres, the activities that write
// the events fail and are retried with growing intervals, the worker stays
// up; once the database is back every event is recorded exactly once and
// nothing is done twice.
func TestDrillPostgresOutage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("drill: needs the built binaries, Temporal and PostgreSQL")
	}
	const (
		accountsN = 12
		outage    = 30 * time.Second
	)
	// The drill owns this cluster, so it may stop it.
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755)) // searchable by the server's user when tests run as root
	pgDir := filepath.Join(dir, "pg")
	ctx, cancel := context.WithTimeout(context.Background(), drillTimeout)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pg, err := pgcluster.Start(ctx, pgcluster.Options{Dir: pgDir, Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, pg.Destroy()) })
	dbURL, err := pg.CreateDatabase(ctx, "drill")
	require.NoError(t, err)
	port := pg.Port()

	d := newDeployment(t, fastPolicy(), dbURL)
	var sw stopwatch
	d.addManagers(store.Manager{ID: d.id("m1"), Name: "Mia", Role: activities.RoleManager},
		store.Manager{ID: d.id("senior"), Name: "Senior", Role: activities.RoleSenior})
	w := d.startWorker("worker", nil)
	rows := [][]string{{"id", "name", "manager", "revenue"}}
	var ids []string
	for i := range accountsN {
		ids = append(ids, d.id(fmt.Sprintf("pg-%02d", i)))
		rows = append(rows, []string{ids[i], fmt.Sprintf("客户 %d", i), d.id("m1"), "60000000"})
	}
	r := d.runStarter("import", writeCSV(t, d.dir, "accounts.csv", rows))
	require.Equal(t, 0, r.code, "%s", r)
	eventually(t, time.Minute, "accounts engaged", func() (bool, string) {
		n := d.count(`SELECT count(*) FROM accounts WHERE stage = 'engage'`)
		return n == accountsN, fmt.Sprint(n)
	})

	// Events flow all along: one every 150ms, every fifth one sent twice.
	c := d.client()
	streamCtx, stopStream := context.WithCancel(context.Background())
	defer stopStream()
	var (
		mu   sync.Mutex
		sent = map[string]bool{}
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; streamCtx.Err() == nil; i++ {
			account := ids[i%accountsN]
			e := activities.Event{ExternalID: fmt.Sprintf("ev-%04d", i), Kind: activities.EventOrder, At: time.Now().UTC(), Amount: 100}
			if i%2 == 1 {
				e.Kind, e.Amount, e.Note = activities.EventNote, 0, "note during the drill"
			}
			copies := 1
			if i%5 == 0 {
				copies = 2 // the source system sends it again: applied once
			}
			for range copies {
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := accounts.SendEvent(sctx, c, account, e)
				cancel()
				if err != nil {
					t.Errorf("send %s: %v", e.ExternalID, err) // signals go to Temporal, which is up
					return
				}
				mu.Lock()
				sent[account+"/"+e.ExternalID] = true
				mu.Unlock()
			}
			select {
			case <-streamCtx.Done():
			case <-time.After(150 * time.Millisecond):
			}
		}
	}()

	time.Sleep(3 * time.Second)
	require.NoError(t, pg.Stop())
	stopped := time.Now()
	// Outages are visible where an orchestrator looks.
	detect := eventually(t, 20*time.Second, "/healthz reports postgres down", func() (bool, string) {
		code, body := get(t, w.url()+"/healthz", "")
		return code == 503 && strings.Contains(body, `"postgres":"unreachable`) && strings.Contains(body, `"temporal":"ok"`), body
	})
	sw.note("healthz 503 after", detect)

	// The event writes fail and are retried, further and further apart.
	// They are local activities, retried inside the worker, so the worker's
	// metrics count the failed attempts. Every account has one in flight
	// (events reach each one every 1.8 s); retried every second, they would
	// fail about 30 times each during the outage, with the backoff (1 s,
	// 2 s, 4 s, 8 s, 16 s) at most 6 times.
	failed := func() float64 {
		return sumMetric(t, w, `activity_type="RecordEvents"`, "temporal_local_activity_execution_failed_total")
	}
	retried := eventually(t, outage, "event writes retried", func() (bool, string) {
		n := failed()
		return n >= 2*accountsN, fmt.Sprintf("%.0f failed attempts", n)
	})
	sw.note("two failed attempts per account after", retried)
	if rest := outage - time.Since(stopped); rest > 0 {
		time.Sleep(rest)
	}
	attempts := failed()
	require.LessOrEqual(t, attempts, float64(7*accountsN), "failed attempts of %d accounts' event writes in %s: retries do not back off", accountsN, outage)
	backoff := fmt.Sprintf("%.0f failed attempts over %d accounts in %s (%.1f each)", attempts, accountsN, outage, attempts/accountsN)
	select {
	case <-w.done:
		t.Fatalf("the worker exited during the outage: %v", w.err)
	default:
	}
	code, body := get(t, w.url()+"/healthz", "")
	require.Equal(t, 503, code, body)

	pg, err = pgcluster.Start(ctx, pgcluster.Options{Dir: pgDir, Port: port, Logger: logger})
	require.NoError(t, err)
	restarted := time.Now()
	sw.note("outage", restarted.Sub(stopped))
	healthy := eventually(t, 30*time.Second, "/healthz healthy again", func() (bool, string) {
		code, body := get(t, w.url()+"/healthz", "")
		return code == 200, body
	})
	sw.note("healthz 200 after restart", healthy)
	time.Sleep(2 * time.Second) // a few events after the outage too
	stopStream()
	wg.Wait()

	// The drill's own connections died with the server.
	require.NoError(t, d.db.Close())
	d.db = openDB(t, dbURL)
	mu.Lock()
	want := sent
	mu.Unlock()
	eventually(t, 90*time.Second, "every event recorded", func() (bool, string) {
		n := d.count(`SELECT count(*) FROM account_events`)
		return n == len(want), fmt.Sprintf("%d of %d", n, len(want))
	})
	sw.note("restart to every event recorded (2s of them sent after it)", time.Since(restarted))
	assertRecordedOnce(t, d, want)
	assertNoDuplicateWork(t, d)
	for _, id := range ids {
		require.Equal(t, workflows.StageEngage, stageOf(t, d.db, id), id)
		assertChain(t, d.db, id)
	}
	t.Logf("drill: %d events to %d accounts across a %s database outage; backoff seen: %s; %s",
		len(want), accountsN, outage, backoff, &sw)
}
