package store

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
)

// The batch insert strategies InsertEvents was chosen from. Only unnest
// (the production path) is outside this file; the others stay here so the
// comparison can be re-run: go test -run '^$' -bench InsertEvents ./internal/store/
var insertStrategies = map[string]func(*Store, context.Context, []Event) (int, error){
	"unnest": (*Store).InsertEvents,
	"values": insertEventsValues,
	"copy":   insertEventsCopy,
}

// insertEventsValues sends one multi-row INSERT ... VALUES with a
// placeholder per value (11 per row; at most 65535 per statement).
func insertEventsValues(s *Store, ctx context.Context, events []Event) (int, error) {
	events = dedupEvents(events)
	if len(events) == 0 {
		return 0, nil
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO account_events (account_id, external_id, kind, at, amount, severity, nps, csat, note, status, reason) VALUES `)
	args := make([]any, 0, len(events)*11)
	for i, e := range events {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for j := range 11 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("$" + strconv.Itoa(i*11+j+1))
		}
		b.WriteString(")")
		args = append(args, e.AccountID, e.ExternalID, e.Kind, e.At, e.Amount, e.Severity, e.NPS, e.CSAT, e.Note, e.Status, e.Reason)
	}
	b.WriteString(` ON CONFLICT (account_id, external_id) DO NOTHING`)
	res, err := s.db.ExecContext(ctx, b.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("insert events: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// insertEventsCopy streams the batch with COPY into a temporary table and
// moves it over with INSERT ... SELECT ... ON CONFLICT DO NOTHING.
func insertEventsCopy(s *Store, ctx context.Context, events []Event) (int, error) {
	events = dedupEvents(events)
	if len(events) == 0 {
		return 0, nil
	}
	var inserted int
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE events_in (account_id text, external_id text, kind text,
            at timestamptz, amount numeric, severity int, nps int, csat int, note text, status text, reason text) ON COMMIT DROP`); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `COPY events_in (account_id, external_id, kind, at, amount, severity, nps, csat, note, status, reason) FROM STDIN`)
		if err != nil {
			return err
		}
		for _, e := range events {
			if _, err := stmt.ExecContext(ctx, e.AccountID, e.ExternalID, e.Kind, e.At, e.Amount, e.Severity, e.NPS, e.CSAT, e.Note, e.Status, e.Reason); err != nil {
				return err
			}
		}
		if _, err := stmt.ExecContext(ctx); err != nil {
			return err
		}
		if err := stmt.Close(); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO account_events (account_id, external_id, kind, at, amount, severity, nps, csat, note, status, reason)
            SELECT * FROM events_in ON CONFLICT (account_id, external_id) DO NOTHING`)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		inserted = int(n)
		return err
	})
	return inserted, err
}

// TestInsertStrategiesAgree keeps the benchmark honest: every strategy
// stores the same rows and reports the same counts.
func TestInsertStrategiesAgree(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	for name, insert := range insertStrategies {
		batch := benchEvents(name, 0, 20)
		batch = append(batch, batch[3]) // a duplicate inside the batch
		n, err := insert(s, ctx, batch)
		require.NoError(t, err, name)
		require.Equal(t, 20, n, name)
		n, err = insert(s, ctx, benchEvents(name, 10, 20))
		require.NoError(t, err, name)
		require.Equal(t, 10, n, name)
	}
	var rows []Event
	require.NoError(t, s.db.SelectContext(ctx, &rows, `SELECT `+eventCols+` FROM account_events ORDER BY external_id`))
	require.Len(t, rows, 3*30)
	for _, r := range rows {
		_, seq, _ := strings.Cut(r.ExternalID, "-")
		i, err := strconv.Atoi(seq)
		require.NoError(t, err)
		want := benchEvents("", i, 1)[0]
		require.Equal(t, want.Amount, r.Amount, r.ExternalID)
		require.Equal(t, want.NPS, r.NPS, r.ExternalID)
		require.True(t, r.At.Equal(t0), r.ExternalID)
	}
}

func benchEvents(prefix string, from, n int) []Event {
	es := make([]Event, n)
	for i := range es {
		seq := from + i
		es[i] = Event{AccountID: "acme-1", ExternalID: fmt.Sprintf("%s-%08d", prefix, seq), Kind: "order",
			At: t0, Amount: float64(seq) + 0.5, Note: "bench", Status: EventApplied}
		if seq%2 == 0 {
			es[i].NPS = ptr(seq % 11)
		}
	}
	return es
}

// BenchmarkInsertEvents measures each strategy per batch of new events.
//
// Commits wait for the WAL flush as in production (pgtest turns that off
// for test databases), so the figures include the commit each batch costs.
func BenchmarkInsertEvents(b *testing.B) {
	ctx := context.Background()
	u, err := url.Parse(pgtest.Database(b))
	require.NoError(b, err)
	q := u.Query()
	q.Set("synchronous_commit", "on") // lib/pq sends unknown keys as session settings
	u.RawQuery = q.Encode()
	s, err := Open(ctx, u.String())
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, s.Close()) })
	require.NoError(b, s.Migrate(ctx))
	var setting string
	require.NoError(b, s.db.GetContext(ctx, &setting, `SHOW synchronous_commit`))
	require.Equal(b, "on", setting)
	_, err = s.UpsertAccount(ctx, Account{ID: "acme-1", Name: "Acme"})
	require.NoError(b, err)
	for _, size := range benchSizes {
		for _, name := range []string{"unnest", "values", "copy"} {
			insert := insertStrategies[name]
			b.Run(fmt.Sprintf("%s/%d", name, size), func(b *testing.B) {
				next := 0
				for b.Loop() {
					batch := benchEvents(fmt.Sprintf("%s-%d", name, size), next, size)
					next += size
					if _, err := insert(s, ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(size), "µs/event")
			})
		}
	}
}

// benchSizes are the batch sizes compared: a signal's few events, a busy
// account's backlog, a CSV import chunk.
var benchSizes = []int{1, 10, 500}
