package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// Account is a key account: its onboarding profile, and the stage and scores
// the workflow maintains.
type Account struct {
	ID           string    `db:"id" json:"id"`
	Name         string    `db:"name" json:"name"`
	ManagerID    string    `db:"manager_id" json:"manager_id"`
	Industry     string    `db:"industry" json:"industry,omitempty"`
	Region       string    `db:"region" json:"region,omitempty"`
	Revenue      float64   `db:"revenue" json:"revenue"`
	GrowthRate   float64   `db:"growth_rate" json:"growth_rate"`
	MarketShare  float64   `db:"market_share" json:"market_share"`
	ContactName  string    `db:"contact_name" json:"contact_name,omitempty"`
	ContactEmail string    `db:"contact_email" json:"contact_email,omitempty"`
	Stage        string    `db:"stage" json:"stage"`
	Tier         string    `db:"tier" json:"tier"`
	Health       float64   `db:"health" json:"health"`
	ChurnRisk    float64   `db:"churn_risk" json:"churn_risk"`
	Value        string    `db:"value" json:"value"`
	Potential    string    `db:"potential" json:"potential"`
	Loyalty      string    `db:"loyalty" json:"loyalty"`
	Outcome      string    `db:"outcome" json:"outcome,omitempty"`
	ClosedReason string    `db:"closed_reason" json:"closed_reason,omitempty"`
	CreatedAt    time.Time `db:"created_at" json:"created_at"`
	UpdatedAt    time.Time `db:"updated_at" json:"updated_at"`
	StageSince   time.Time `db:"stage_since" json:"stage_since"`
}

const accountCols = `id, name, COALESCE(manager_id, '') AS manager_id, industry, region, revenue, growth_rate,
    market_share, contact_name, contact_email, stage, tier, health, churn_risk, value, potential, loyalty,
    outcome, closed_reason, created_at, updated_at, stage_since`

// A re-import updates the profile only: stage and scores belong to the
// workflow, and so does the manager (SetAccountManager also moves tasks,
// and the workflow's search attributes must follow). Nothing changes, not
// even updated_at, when the profile is the same. xmax = 0 marks a row this
// statement inserted rather than updated.
const upsertAccountSQL = `
INSERT INTO accounts (id, name, manager_id, industry, region, revenue, growth_rate, market_share,
    contact_name, contact_email, stage, tier, created_at, updated_at, stage_since)
VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, $8, $9, $10,
    COALESCE(NULLIF($11, ''), 'identify'), COALESCE(NULLIF($12, ''), 'prospect'),
    COALESCE($13, now()), COALESCE($13, now()), COALESCE($13, now()))
ON CONFLICT (id) DO UPDATE SET
    name = EXCLUDED.name, industry = EXCLUDED.industry, region = EXCLUDED.region,
    revenue = EXCLUDED.revenue, growth_rate = EXCLUDED.growth_rate, market_share = EXCLUDED.market_share,
    contact_name = EXCLUDED.contact_name, contact_email = EXCLUDED.contact_email, updated_at = now()
WHERE (accounts.name, accounts.industry, accounts.region, accounts.revenue, accounts.growth_rate,
       accounts.market_share, accounts.contact_name, accounts.contact_email)
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.industry, EXCLUDED.region, EXCLUDED.revenue, EXCLUDED.growth_rate,
       EXCLUDED.market_share, EXCLUDED.contact_name, EXCLUDED.contact_email)
RETURNING (xmax = 0) AS created`

// UpsertAccount onboards an account or updates its profile, and reports
// whether it was new. For a new account, an empty Stage or Tier means
// identify or prospect, and a zero CreatedAt means now.
func (s *Store) UpsertAccount(ctx context.Context, a Account) (created bool, err error) {
	err = s.db.GetContext(ctx, &created, upsertAccountSQL, a.ID, a.Name, a.ManagerID, a.Industry, a.Region,
		a.Revenue, a.GrowthRate, a.MarketShare, a.ContactName, a.ContactEmail, a.Stage, a.Tier, nullTime(a.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // existed with the same profile
	}
	if err != nil {
		return false, fmt.Errorf("upsert account %s: %w", a.ID, err)
	}
	return created, nil
}

const accountSQL = `SELECT ` + accountCols + ` FROM accounts WHERE id = $1`

// Account returns one account, or ErrNotFound.
func (s *Store) Account(ctx context.Context, id string) (Account, error) {
	var a Account
	if err := s.db.GetContext(ctx, &a, accountSQL, id); err != nil {
		return Account{}, notFound(err, "account "+id)
	}
	return a, nil
}

// AccountFilter selects accounts; empty fields do not filter.
type AccountFilter struct {
	Stage   string
	Tier    string
	Manager string
	// Managers keeps accounts of any of these managers (a supervisor's
	// team). Empty means no filter, so a caller showing a team must not pass
	// an empty team.
	Managers []string
	// Query matches id or name, case-insensitively, anywhere in them.
	Query string
	// Limit 0 means all.
	Limit  int
	Offset int
}

// The filter shared by ListAccounts and AccountCounts, so the counts always
// describe the list.
const accountWhere = `
WHERE ($1 = '' OR stage = $1)
  AND ($2 = '' OR tier = $2)
  AND ($3 = '' OR manager_id = $3)
  AND (cardinality($4::text[]) = 0 OR manager_id = ANY ($4))
  AND ($5 = '' OR id ILIKE $5 OR name ILIKE $5)`

func (f AccountFilter) args() []any {
	q := ""
	if f.Query != "" {
		q = likePattern(f.Query)
	}
	return []any{f.Stage, f.Tier, f.Manager, textArray(f.Managers), q}
}

const listAccountsSQL = `SELECT ` + accountCols + ` FROM accounts` + accountWhere + `
ORDER BY name, id LIMIT $6 OFFSET $7`

// ListAccounts returns the accounts matching f, by name.
func (s *Store) ListAccounts(ctx context.Context, f AccountFilter) ([]Account, error) {
	as := []Account{}
	args := append(f.args(), limit(f.Limit), max(f.Offset, 0))
	if err := s.db.SelectContext(ctx, &as, listAccountsSQL, args...); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return as, nil
}

// One scan for both breakdowns.
const accountCountsSQL = `SELECT stage, tier, count(*) AS n FROM accounts` + accountWhere + `
GROUP BY GROUPING SETS ((stage), (tier))`

// AccountCounts counts the accounts matching f (Limit and Offset ignored) by
// stage and by tier, for dashboards and list headers.
func (s *Store) AccountCounts(ctx context.Context, f AccountFilter) (byStage, byTier map[string]int, err error) {
	var rows []struct {
		Stage sql.NullString `db:"stage"`
		Tier  sql.NullString `db:"tier"`
		N     int            `db:"n"`
	}
	if err := s.db.SelectContext(ctx, &rows, accountCountsSQL, f.args()...); err != nil {
		return nil, nil, fmt.Errorf("count accounts: %w", err)
	}
	byStage, byTier = map[string]int{}, map[string]int{}
	for _, r := range rows {
		if r.Stage.Valid {
			byStage[r.Stage.String] = r.N
		} else {
			byTier[r.Tier.String] = r.N
		}
	}
	return byStage, byTier, nil
}

// stage_since moves only when the stage changes, and updated_at only when
// something does, so a repeated call is invisible.
const setAccountStageSQL = `
UPDATE accounts SET
    stage_since = CASE WHEN stage = $2 THEN stage_since ELSE $3 END,
    updated_at = CASE WHEN (stage, outcome, closed_reason) IS DISTINCT FROM ($2, $4, $5) THEN now() ELSE updated_at END,
    stage = $2, outcome = $4, closed_reason = $5
WHERE id = $1`

// SetAccountStage records the account's stage, and for an end stage the
// outcome and reason it closed with.
func (s *Store) SetAccountStage(ctx context.Context, id, stage string, at time.Time, outcome, reason string) error {
	res, err := s.db.ExecContext(ctx, setAccountStageSQL, id, stage, at, outcome, reason)
	if err != nil {
		return fmt.Errorf("set stage of account %s to %s: %w", id, stage, err)
	}
	return mustAffect(res, "account "+id)
}

// One statement, so the account and its open work change owner together.
// Only the previous manager's tasks move (an ack task of a supervisor
// stays theirs). Visits stay on the old manager's calendar: moving them
// could double-book the new one; the workflow reschedules.
const setAccountManagerSQL = `
WITH acc AS (
    UPDATE accounts SET manager_id = NULLIF($3, ''),
        updated_at = CASE WHEN manager_id IS DISTINCT FROM NULLIF($3, '') THEN now() ELSE updated_at END
    WHERE id = $1
    RETURNING id
), moved AS (
    UPDATE tasks SET assignee_id = $3
    WHERE account_id IN (SELECT id FROM acc) AND state = 'open'
      AND kind IN ('visit', 'recovery_plan', 'follow_up')
      AND ($2 = '' OR assignee_id = $2) AND assignee_id <> $3
    RETURNING id
)
SELECT (SELECT count(*) FROM acc) AS accounts, (SELECT count(*) FROM moved) AS tasks`

// SetAccountManager hands an account from one manager to another, together
// with the open visit, recovery plan and follow-up tasks the previous
// manager (from; empty means whoever) held on it.
func (s *Store) SetAccountManager(ctx context.Context, id, from, manager string) error {
	var n struct {
		Accounts int `db:"accounts"`
		Tasks    int `db:"tasks"`
	}
	if err := s.db.GetContext(ctx, &n, setAccountManagerSQL, id, from, manager); err != nil {
		return fmt.Errorf("set manager of account %s to %s: %w", id, manager, err)
	}
	if n.Accounts == 0 {
		return fmt.Errorf("account %s: %w", id, ErrNotFound)
	}
	return nil
}

// textArray binds a string slice as text[]; nil becomes an empty array,
// not NULL, so "no filter" tests stay simple.
func textArray(xs []string) any {
	if xs == nil {
		xs = []string{}
	}
	return pq.StringArray(xs)
}
