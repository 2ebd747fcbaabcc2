package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/lib/pq"
)

// Mail is a message in the outbox. Activities enqueue mail in the database
// (idempotent by key) and a sender delivers it later, so a retried activity
// never sends twice and an SMTP outage loses nothing.
type Mail struct {
	ID        string     `db:"id" json:"id"`
	Channel   string     `db:"channel" json:"channel"` // ChannelMail (default) or ChannelWebhook
	Recipient string     `db:"recipient" json:"recipient"`
	Subject   string     `db:"subject" json:"subject"`
	Body      string     `db:"body" json:"body"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	SentAt    *time.Time `db:"sent_at" json:"sent_at,omitempty"`
	Error     string     `db:"error" json:"error,omitempty"` // the last failed attempt's error
	Attempts  int        `db:"attempts" json:"attempts"`     // failed attempts so far
}

// Outbox channels: how a message is delivered.
const (
	ChannelMail    = "mail"    // e-mail to Recipient
	ChannelWebhook = "webhook" // Body POSTed to the configured webhook
)

const mailCols = `id, channel, recipient, subject, body, created_at, sent_at, error, attempts`

const (
	enqueueMailSQL = `
INSERT INTO outbox (id, channel, recipient, subject, body, created_at)
VALUES ($1, COALESCE(NULLIF($2, ''), 'mail'), $3, $4, $5, COALESCE($6, now()))
ON CONFLICT (id) DO NOTHING
RETURNING ` + mailCols
	mailSQL = `SELECT ` + mailCols + ` FROM outbox WHERE id = $1`
)

// EnqueueMail adds a message once per id and returns the stored row. An
// empty Channel means ChannelMail.
func (s *Store) EnqueueMail(ctx context.Context, m Mail) (Mail, error) {
	var out Mail
	err := insertOrGet(ctx, s.db, &out, enqueueMailSQL,
		[]any{m.ID, m.Channel, m.Recipient, m.Subject, m.Body, nullTime(m.CreatedAt)}, mailSQL, m.ID)
	if err != nil {
		return Mail{}, fmt.Errorf("enqueue mail %s: %w", m.ID, err)
	}
	return out, nil
}

// MailLease is how long PendingMail reserves a message for its caller. A
// sender that dies mid-send releases its messages when the lease ends.
const MailLease = 5 * time.Minute

// Claiming with SKIP LOCKED and a lease lets several workers drain the
// outbox at once without two of them sending the same message.
const pendingMailSQL = `
UPDATE outbox SET claimed_until = now() + make_interval(secs => $2)
WHERE id IN (
    SELECT id FROM outbox
    WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
      AND channel = ANY($3)
    ORDER BY created_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
RETURNING ` + mailCols

// PendingMail claims up to n unsent messages of the given channels, oldest
// first, for MailLease. The caller sends each and reports with
// MarkMailSent. A channel the caller cannot deliver (no SMTP server
// configured) is left alone: its messages stay visible in the outbox.
func (s *Store) PendingMail(ctx context.Context, n int, channels ...string) ([]Mail, error) {
	ms := []Mail{}
	if err := s.db.SelectContext(ctx, &ms, pendingMailSQL, n, MailLease.Seconds(), pq.Array(channels)); err != nil {
		return nil, fmt.Errorf("claim pending mail: %w", err)
	}
	slices.SortFunc(ms, func(a, b Mail) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	return ms, nil
}

const (
	markMailSentSQL = `UPDATE outbox SET sent_at = COALESCE(sent_at, now()), error = '', claimed_until = NULL WHERE id = $1`
	// A failed message waits attempts minutes (at most an hour) before it
	// is offered again, so a broken address does not spin the sender.
	markMailFailedSQL = `
UPDATE outbox SET error = $2, attempts = attempts + 1,
    claimed_until = now() + LEAST(attempts + 1, 60) * interval '1 minute'
WHERE id = $1 AND sent_at IS NULL`
)

// MarkMailSent records the outcome of sending a claimed message: sendErr
// nil marks it sent (once: the first sent time stays), otherwise the error
// is kept and the message retried later with a growing delay.
func (s *Store) MarkMailSent(ctx context.Context, id string, sendErr error) error {
	if sendErr == nil {
		res, err := s.db.ExecContext(ctx, markMailSentSQL, id)
		if err != nil {
			return fmt.Errorf("mark mail %s sent: %w", id, err)
		}
		return mustAffect(res, "mail "+id)
	}
	res, err := s.db.ExecContext(ctx, markMailFailedSQL, id, sendErr.Error())
	if err != nil {
		return fmt.Errorf("mark mail %s failed: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		if err != nil {
			return fmt.Errorf("mark mail %s failed: %w", id, err)
		}
		return nil
	}
	// Nothing updated: already sent (a late failure report is moot) or unknown.
	var m Mail
	if err := s.db.GetContext(ctx, &m, mailSQL, id); err != nil {
		return notFound(err, "mail "+id)
	}
	return nil
}
