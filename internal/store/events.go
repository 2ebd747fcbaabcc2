package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// Event is one business event of an account (order, complaint, survey
// response, renewal, note) as received. Rejected events are kept with the
// reason, so operations can see what was sent and why it did not count.
type Event struct {
	ID         int64     `db:"id" json:"id"`
	AccountID  string    `db:"account_id" json:"account_id"`
	ExternalID string    `db:"external_id" json:"external_id"` // the sender's id: the dedup key
	Kind       string    `db:"kind" json:"kind"`
	At         time.Time `db:"at" json:"at"`
	Amount     float64   `db:"amount" json:"amount,omitempty"`
	Severity   int       `db:"severity" json:"severity,omitempty"` // complaints, 1-5
	NPS        *int      `db:"nps" json:"nps,omitempty"`
	CSAT       *int      `db:"csat" json:"csat,omitempty"`
	Note       string    `db:"note" json:"note,omitempty"`
	Status     string    `db:"status" json:"status"` // applied | rejected; empty means applied
	Reason     string    `db:"reason" json:"reason,omitempty"`
	RecordedAt time.Time `db:"recorded_at" json:"recorded_at"`
}

// Event statuses.
const (
	EventApplied  = "applied"
	EventRejected = "rejected"
)

// The batch travels as one array per column: one statement text whatever
// the batch size (the server caches its plan), no 65535-parameter ceiling,
// one round trip. BenchmarkInsertEvents compares it with a multi-row VALUES
// statement and with COPY into a temporary table.
//
// A survey_response whose external id is the id of one of its account's
// surveys, or "survey:" and the id, records that survey's answer (the
// answer page sends one for each): survey_id names the survey, and scoring
// and the portfolio, which count the answer from survey_responses, skip
// the event. CreateSurvey links events recorded before their survey.
const insertEventsSQL = `
INSERT INTO account_events (account_id, external_id, kind, at, amount, severity, nps, csat, note, status, reason,
    survey_id)
SELECT u.*, CASE WHEN u.kind = 'survey_response' THEN (SELECT s.id FROM surveys s
        WHERE s.account_id = u.account_id
          AND s.id IN (u.external_id, CASE WHEN starts_with(u.external_id, 'survey:') THEN substr(u.external_id, 8) END)
        LIMIT 1) END
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::numeric[], $6::int[],
            $7::int[], $8::int[], $9::text[], $10::text[], $11::text[])
    u (account_id, external_id, kind, at, amount, severity, nps, csat, note, status, reason)
ON CONFLICT (account_id, external_id) DO NOTHING`

// InsertEvents records a batch of events in one round trip and returns how
// many were new. An event whose (account, external id) is already stored,
// or repeats an earlier one in the batch, is skipped: senders retry, and
// the first copy is the one that counts.
func (s *Store) InsertEvents(ctx context.Context, events []Event) (inserted int, err error) {
	events = dedupEvents(events)
	if len(events) == 0 {
		return 0, nil
	}
	res, err := s.db.ExecContext(ctx, insertEventsSQL, eventColumns(events)...)
	if err != nil {
		return 0, fmt.Errorf("insert %d events: %w", len(events), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("insert %d events: %w", len(events), err)
	}
	return int(n), nil
}

// dedupEvents keeps the first event per (account, external id) and fills
// in the default status.
func dedupEvents(events []Event) []Event {
	type key struct{ account, external string }
	seen := make(map[key]bool, len(events))
	out := make([]Event, 0, len(events))
	for _, e := range events {
		k := key{e.AccountID, e.ExternalID}
		if seen[k] {
			continue
		}
		seen[k] = true
		if e.Status == "" {
			e.Status = EventApplied
		}
		out = append(out, e)
	}
	return out
}

// eventColumns transposes events into the column arrays insertEventsSQL
// binds.
func eventColumns(events []Event) []any {
	n := len(events)
	var (
		account, external, kind, at, note, status, reason = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		amount    = make([]float64, n)
		severity  = make([]int64, n)
		nps, csat = make([]sql.NullInt64, n), make([]sql.NullInt64, n)
	)
	for i, e := range events {
		account[i], external[i], kind[i] = e.AccountID, e.ExternalID, e.Kind
		// Text keeps the offset and full precision through the array literal.
		at[i] = e.At.Format(time.RFC3339Nano)
		amount[i], severity[i] = e.Amount, int64(e.Severity)
		nps[i], csat[i] = nullInt(e.NPS), nullInt(e.CSAT)
		note[i], status[i], reason[i] = e.Note, e.Status, e.Reason
	}
	return []any{pq.StringArray(account), pq.StringArray(external), pq.StringArray(kind), pq.StringArray(at),
		pq.Float64Array(amount), pq.Int64Array(severity), pq.Array(nps), pq.Array(csat),
		pq.StringArray(note), pq.StringArray(status), pq.StringArray(reason)}
}

func nullInt(p *int) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*p), Valid: true}
}

const eventCols = `id, account_id, external_id, kind, at, amount, severity, nps, csat, note, status, reason, recorded_at`

const eventsSQL = `SELECT ` + eventCols + ` FROM account_events WHERE account_id = $1 ORDER BY at DESC, id DESC LIMIT $2`

// Events returns an account's events, newest first; limit 0 means all.
func (s *Store) Events(ctx context.Context, accountID string, n int) ([]Event, error) {
	es := []Event{}
	if err := s.db.SelectContext(ctx, &es, eventsSQL, accountID, limit(n)); err != nil {
		return nil, fmt.Errorf("events of account %s: %w", accountID, err)
	}
	return es, nil
}
