package store

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/kamflow/kamflow/internal/scoring"
)

// Score is one scoring of an account: the classes, the numbers and the
// reasons behind them, as shown on the account's page.
type Score struct {
	Key       string    `db:"key" json:"key"`
	AccountID string    `db:"account_id" json:"account_id"`
	At        time.Time `db:"at" json:"at"`
	Value     string    `db:"value" json:"value"`
	Potential string    `db:"potential" json:"potential"`
	Loyalty   string    `db:"loyalty" json:"loyalty"`
	ABC       string    `db:"abc" json:"abc"`
	Segment   string    `db:"segment" json:"segment"`
	Strategy  string    `db:"strategy" json:"strategy"`
	Tier      string    `db:"tier" json:"tier"`
	Health    float64   `db:"health" json:"health"`
	ChurnRisk float64   `db:"churn_risk" json:"churn_risk"`
	CLV       float64   `db:"clv" json:"clv"`
	Lifecycle string    `db:"lifecycle" json:"lifecycle"`
	Reasons   Reasons   `db:"reasons" json:"reasons"`
	Signals   Strings   `db:"signals" json:"signals"`
}

// Reason explains one field of a score (same shape as scoring.Reason, kept
// separate so the stored format does not change with the model's types).
type Reason struct {
	Field string `json:"field"`
	Text  string `json:"text"`
}

// Reasons is stored as a jsonb array.
type Reasons []Reason

// Value encodes the reasons as JSON; nil is an empty array.
func (r Reasons) Value() (driver.Value, error) {
	if r == nil {
		r = Reasons{}
	}
	b, err := json.Marshal([]Reason(r))
	if err != nil {
		return nil, fmt.Errorf("encode reasons: %w", err)
	}
	return b, nil
}

// Scan decodes a jsonb array.
func (r *Reasons) Scan(src any) error {
	b, ok := src.([]byte)
	if !ok {
		if s, isString := src.(string); isString {
			b = []byte(s)
		} else {
			return fmt.Errorf("scan reasons: unexpected %T", src)
		}
	}
	if err := json.Unmarshal(b, (*[]Reason)(r)); err != nil {
		return fmt.Errorf("decode reasons: %w", err)
	}
	return nil
}

// Strings is a text[] column without exposing the driver's array type.
type Strings []string

// Value encodes a text[] literal; nil is an empty array (the column is NOT NULL).
func (s Strings) Value() (driver.Value, error) {
	if s == nil {
		s = Strings{}
	}
	return pq.StringArray(s).Value()
}

// Scan decodes a text[] literal.
func (s *Strings) Scan(src any) error {
	if err := (*pq.StringArray)(s).Scan(src); err != nil {
		return fmt.Errorf("scan text[]: %w", err)
	}
	return nil
}

// ScoreRow turns a scoring result into the row InsertScore stores under key.
func ScoreRow(key, accountID string, at time.Time, r scoring.Result) Score {
	reasons := make(Reasons, 0, len(r.Reasons))
	for _, x := range r.Reasons {
		reasons = append(reasons, Reason{Field: x.Field, Text: x.Text})
	}
	return Score{
		Key: key, AccountID: accountID, At: at,
		Value: string(r.Value), Potential: string(r.Potential), Loyalty: string(r.Loyalty),
		ABC: r.ABC, Segment: r.Segment, Strategy: r.Strategy, Tier: r.Tier,
		Health: r.Health, ChurnRisk: r.ChurnRisk, CLV: r.CLV, Lifecycle: r.Lifecycle,
		Reasons: reasons, Signals: Strings(append([]string{}, r.Signals...)),
	}
}

const scoreCols = `key, account_id, at, value, potential, loyalty, abc, segment, strategy, tier, health,
    churn_risk, clv, lifecycle, reasons, signals`

// One statement: the score row and the account's current classes cannot
// disagree. Only a new score that is the latest moves the account, so a
// retry changes nothing and an older score recorded late does not win.
// "Latest" and "previous" are in (at, key) order, as LatestScore reads. A
// row's prev_at and prev_tier are those of the account's score before it
// (-infinity and an empty tier for the first, see migrations/0005); a score
// recorded late also becomes the previous one of the score after it. The
// account's workflow records one score at a time, so no other insert for
// the account runs between the lookup and the insert.
const insertScoreSQL = `
WITH prev AS (
    SELECT at, tier FROM scores
    WHERE account_id = $2 AND (at, key) < ($3, $1)
    ORDER BY at DESC, key DESC LIMIT 1
), s AS (
    INSERT INTO scores (` + scoreCols + `, prev_at, prev_tier)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
        COALESCE((SELECT at FROM prev), '-infinity'), COALESCE((SELECT tier FROM prev), ''))
    ON CONFLICT (key) DO NOTHING
    RETURNING key, account_id, at, tier, health, churn_risk, value, potential, loyalty
), relinked AS (
    UPDATE scores n SET prev_at = s.at, prev_tier = s.tier
    FROM s
    WHERE n.key = (SELECT o.key FROM scores o
                   WHERE o.account_id = s.account_id AND (o.at, o.key) > (s.at, s.key)
                   ORDER BY o.at, o.key LIMIT 1)
)
UPDATE accounts a SET tier = s.tier, health = s.health, churn_risk = s.churn_risk, value = s.value,
    potential = s.potential, loyalty = s.loyalty, updated_at = now()
FROM s WHERE a.id = s.account_id
  AND NOT EXISTS (SELECT 1 FROM scores o WHERE o.account_id = s.account_id AND (o.at, o.key) > (s.at, s.key))`

// InsertScore stores a score once per key and makes it the account's
// current tier, health, churn risk and levels.
func (s *Store) InsertScore(ctx context.Context, sc Score) error {
	_, err := s.db.ExecContext(ctx, insertScoreSQL, sc.Key, sc.AccountID, sc.At, sc.Value, sc.Potential, sc.Loyalty,
		sc.ABC, sc.Segment, sc.Strategy, sc.Tier, sc.Health, sc.ChurnRisk, sc.CLV, sc.Lifecycle, sc.Reasons, sc.Signals)
	if err != nil {
		return fmt.Errorf("insert score %s: %w", sc.Key, err)
	}
	return nil
}

const latestScoreSQL = `SELECT ` + scoreCols + ` FROM scores WHERE account_id = $1 ORDER BY at DESC, key DESC LIMIT 1`

// LatestScore returns the account's most recent score, or ErrNotFound when
// it was never scored.
func (s *Store) LatestScore(ctx context.Context, accountID string) (Score, error) {
	var sc Score
	if err := s.db.GetContext(ctx, &sc, latestScoreSQL, accountID); err != nil {
		return Score{}, notFound(err, "latest score of account "+accountID)
	}
	return sc, nil
}

// factsWindow is how far back Facts loads orders, complaints, surveys and
// visits: two years covers every scoring window with a year to compare.
const factsWindow = "2 years"

// Everything scoring needs in one round trip and one snapshot, so the facts
// are consistent with each other. Only what happened by $2 counts: scoring
// at an earlier time gives the earlier answer. Survey responses come from
// kamflow's own surveys and from survey_response events fed by operations;
// an event that records the answer to one of the account's surveys (its
// survey_id, see insertEventsSQL) is already counted and is skipped.
const factsSQL = `
SELECT a.created_at AS since, a.revenue, a.growth_rate, a.market_share, a.tier AS prev_tier,
    COALESCE((SELECT json_agg(json_build_object('at', e.at, 'amount', e.amount) ORDER BY e.at, e.id)
        FROM account_events e
        WHERE e.account_id = a.id AND e.kind = 'order' AND e.status = 'applied'
          AND e.at > $2::timestamptz - $3::interval AND e.at <= $2), '[]') AS orders,
    COALESCE((SELECT json_agg(json_build_object('at', e.at, 'severity', e.severity) ORDER BY e.at, e.id)
        FROM account_events e
        WHERE e.account_id = a.id AND e.kind = 'complaint' AND e.status = 'applied'
          AND e.at > $2::timestamptz - $3::interval AND e.at <= $2), '[]') AS complaints,
    COALESCE((SELECT json_agg(x ORDER BY x.sent_at) FROM (
        SELECT s.sent_at, s.due_at, s.kind, s.answered_at IS NOT NULL AND s.answered_at <= $2 AS answered,
               CASE WHEN s.answered_at <= $2 THEN r.nps END AS nps,
               CASE WHEN s.answered_at <= $2 THEN r.csat END AS csat
        FROM surveys s
        LEFT JOIN survey_responses r ON r.survey_id = s.id
        WHERE s.account_id = a.id AND s.sent_at > $2::timestamptz - $3::interval AND s.sent_at <= $2
        UNION ALL
        SELECT e.at, e.at, CASE WHEN e.nps IS NOT NULL THEN 'nps' ELSE 'csat' END, true, e.nps, e.csat
        FROM account_events e
        WHERE e.account_id = a.id AND e.kind = 'survey_response' AND e.status = 'applied'
          AND (e.nps IS NOT NULL OR e.csat IS NOT NULL)
          AND e.at > $2::timestamptz - $3::interval AND e.at <= $2
          AND e.survey_id IS NULL
    ) x), '[]') AS surveys,
    (SELECT count(*) FROM account_events e WHERE e.account_id = a.id AND e.kind = 'contract_renewed'
        AND e.status = 'applied' AND e.at <= $2) AS renewals,
    (SELECT count(*) FROM account_events e WHERE e.account_id = a.id AND e.kind = 'renewal_missed'
        AND e.status = 'applied' AND e.at <= $2) AS missed_renewals,
    (SELECT count(*) FROM tasks t WHERE t.account_id = a.id AND t.state = 'open' AND t.kind <> 'ack' AND t.due_at < $2) AS overdue_tasks,
    (SELECT count(*) FROM visits v WHERE v.account_id = a.id AND v.state = 'done'
        AND v.starts_at > $2::timestamptz - $3::interval AND v.starts_at <= $2) AS completed_visits
FROM accounts a WHERE a.id = $1`

// Facts loads what internal/scoring needs about an account as of now:
// orders, complaints and surveys of the last two years, lifetime renewal
// counts, open tasks past due, completed visits, the declared profile and
// the tier to apply hysteresis from. CostToServe is left 0 (scoring prices
// the visits with its model).
func (s *Store) Facts(ctx context.Context, accountID string, now time.Time) (scoring.Facts, error) {
	var row struct {
		Since           time.Time `db:"since"`
		Revenue         float64   `db:"revenue"`
		GrowthRate      float64   `db:"growth_rate"`
		MarketShare     float64   `db:"market_share"`
		PrevTier        string    `db:"prev_tier"`
		Orders          []byte    `db:"orders"`
		Complaints      []byte    `db:"complaints"`
		Surveys         []byte    `db:"surveys"`
		Renewals        int       `db:"renewals"`
		MissedRenewals  int       `db:"missed_renewals"`
		OverdueTasks    int       `db:"overdue_tasks"`
		CompletedVisits int       `db:"completed_visits"`
	}
	if err := s.db.GetContext(ctx, &row, factsSQL, accountID, now, factsWindow); err != nil {
		return scoring.Facts{}, notFound(err, "facts of account "+accountID)
	}
	var (
		orders []struct {
			At     time.Time `json:"at"`
			Amount float64   `json:"amount"`
		}
		complaints []struct {
			At       time.Time `json:"at"`
			Severity int       `json:"severity"`
		}
		surveys []struct {
			SentAt   time.Time `json:"sent_at"`
			DueAt    time.Time `json:"due_at"`
			Kind     string    `json:"kind"`
			Answered bool      `json:"answered"`
			NPS      *int      `json:"nps"`
			CSAT     *int      `json:"csat"`
		}
	)
	if err := errors.Join(json.Unmarshal(row.Orders, &orders), json.Unmarshal(row.Complaints, &complaints),
		json.Unmarshal(row.Surveys, &surveys)); err != nil {
		return scoring.Facts{}, fmt.Errorf("facts of account %s: decode: %w", accountID, err)
	}
	f := scoring.Facts{
		Now:             now,
		Since:           row.Since,
		DeclaredRevenue: row.Revenue,
		GrowthRate:      row.GrowthRate,
		MarketShare:     row.MarketShare,
		Orders:          make([]scoring.Order, 0, len(orders)),
		Complaints:      make([]scoring.Complaint, 0, len(complaints)),
		Surveys:         make([]scoring.Survey, 0, len(surveys)),
		Renewals:        row.Renewals,
		MissedRenewals:  row.MissedRenewals,
		OverdueTasks:    row.OverdueTasks,
		CompletedVisits: row.CompletedVisits,
		PrevTier:        row.PrevTier,
	}
	for _, o := range orders {
		f.Orders = append(f.Orders, scoring.Order{At: o.At, Amount: o.Amount})
	}
	for _, c := range complaints {
		f.Complaints = append(f.Complaints, scoring.Complaint{At: c.At, Severity: c.Severity})
	}
	for _, sv := range surveys {
		f.Surveys = append(f.Surveys, scoring.Survey{SentAt: sv.SentAt, DueAt: sv.DueAt, Kind: sv.Kind,
			Answered: sv.Answered, NPS: sv.NPS, CSAT: sv.CSAT})
	}
	return f, nil
}
