package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/sync/errgroup"
)

// The portfolio's key performance indicators, computed by SQL over the
// record for a period [From, To): an instant t is in the period when
// From <= t < To, so consecutive periods share no instant and an event at
// To counts in the next one. State "at the period's start" is the state
// after every change before From; "at its end" after every change before
// To.
//
// The statements read what the period needs rather than the whole history:
// the transitions, scores, answers and tasks of the period (and each
// account's first stage change or score after it), each through an index
// on the time its figure is bounded by (migrations/0004_kpi_indexes.sql to
// 0007_event_survey_id.sql), and the accounts table for what holds now.
// The figures that are sums over rows kamflow writes at the pace of people
// (done tasks, answers to its surveys) read the period's whole UTC days
// from day rollups that triggers keep (0008_kpi_days.sql) when the report
// is on every account, and only the rest of the period from the rows
// (kpiWholeDays).
// What held before the period, and what an account did next, comes with
// the period's own rows: a transition carries when the
// stay it ends began (entered_at), when the account last entered its stage
// (prev_entry_at) and when it next moved up the ladder (next_up_at,
// deepen_at), and a score the account's previous score's time and tier
// (prev_at, prev_tier). So the stage or tier at a moment is read off the
// first row at or after it, and the funnel counts rows, with no window
// function, no grouping by account, no per-account probe (but for a team's
// tier moves, where probing its few accounts is cheaper) and no older
// rows. The statements run concurrently, so on two cores a report takes
// about half their sum, or its slowest statement if that is longer. Each
// statement sees one snapshot; the report as a whole may not, which a
// dashboard can afford.

// KPIQuery selects the period and the accounts of a KPI report.
type KPIQuery struct {
	From, To time.Time
	// Managers limits the report to the accounts these managers hold (by
	// the account's current manager); nil means every account.
	Managers []string
	// TopRisk is how many of the riskiest accounts to list; 0 means 10.
	TopRisk int
}

// KPIReport is every figure of the portfolio view for one period and scope.
type KPIReport struct {
	From           time.Time         `json:"from"`
	To             time.Time         `json:"to"`
	Funnel         []FunnelStage     `json:"funnel"`
	Acquisition    Acquisition       `json:"acquisition"`
	Retention      Retention         `json:"retention"`
	WinBack        WinBack           `json:"win_back"`
	Satisfaction   Satisfaction      `json:"satisfaction"`
	SurveyResponse SurveyResponse    `json:"survey_response"`
	TierMoves      TierMoves         `json:"tier_moves"`
	RiskBands      []RiskCell        `json:"risk_bands"`
	TopRisk        []RiskAccount     `json:"top_risk"`
	TasksByManager []ManagerTasks    `json:"tasks_by_manager"`
	Escalations    []EscalationLevel `json:"escalations"`
	SLA            SLA               `json:"sla"`
}

// FunnelStage is one stage of the lifecycle funnel.
type FunnelStage struct {
	Stage string `json:"stage"`
	// Entered counts the accounts that entered the stage in the period.
	Entered int `json:"entered"`
	// Next is the following stage of the ladder, if the stage has one;
	// Converted counts the accounts that entered Stage in the period and
	// Next after that, before the period's end.
	Next       string   `json:"next,omitempty"`
	Converted  int      `json:"converted"`
	Conversion *float64 `json:"conversion"`
	// StaysEnded counts the stays in the stage that ended in the period;
	// MedianDays is their median length.
	StaysEnded int      `json:"stays_ended"`
	MedianDays *float64 `json:"median_days"`
}

// Acquisition is the share of newly identified accounts that became
// customers.
type Acquisition struct {
	Identified int      `json:"identified"`
	Deepened   int      `json:"deepened"`
	Rate       *float64 `json:"rate"`
}

// Retention is the share of the period's opening customers still customers
// at its end.
type Retention struct {
	ActiveAtStart int `json:"active_at_start"`
	Retained      int `json:"retained"`
	Lost          int `json:"lost"`
	// Closed counts customers closed by ops (or, in a record edited by
	// hand, disqualified) by the period's end.
	Closed int      `json:"closed"`
	Rate   *float64 `json:"rate"`
}

// WinBack is how the churn-recovery stays that ended in the period ended.
type WinBack struct {
	Recovered int      `json:"recovered"`
	Lost      int      `json:"lost"`
	Closed    int      `json:"closed"`
	Rate      *float64 `json:"rate"`
}

// Satisfaction is NPS and CSAT over the period and by week.
type Satisfaction struct {
	NPSResponses  int                `json:"nps_responses"`
	Promoters     int                `json:"promoters"`
	Passives      int                `json:"passives"`
	Detractors    int                `json:"detractors"`
	NPS           *float64           `json:"nps"`
	CSATResponses int                `json:"csat_responses"`
	CSAT          *float64           `json:"csat"`
	Weeks         []SatisfactionWeek `json:"weeks"`
}

// SatisfactionWeek is one week's answers; weeks start on Monday, UTC, and
// the first and last may be cut by the period.
type SatisfactionWeek struct {
	Week          time.Time `json:"week" db:"week"`
	NPSResponses  int       `json:"nps_responses" db:"nps_responses"`
	Promoters     int       `json:"promoters" db:"promoters"`
	Passives      int       `json:"passives" db:"passives"`
	Detractors    int       `json:"detractors" db:"detractors"`
	NPS           *float64  `json:"nps" db:"-"`
	CSATResponses int       `json:"csat_responses" db:"csat_responses"`
	CSATSum       int       `json:"-" db:"csat_sum"`
	CSAT          *float64  `json:"csat" db:"-"`
}

// SurveyResponse is the answer rate of the surveys sent in the period.
type SurveyResponse struct {
	Sent     int      `json:"sent" db:"sent"`
	Answered int      `json:"answered" db:"answered"`
	Pending  int      `json:"pending" db:"pending"`
	Rate     *float64 `json:"rate" db:"-"`
}

// TierMoves is the tier movement matrix of the accounts scored in the
// period: tier at the period's start against the latest tier in it.
type TierMoves struct {
	Cells     []TierMove `json:"cells"`
	Promoted  int        `json:"promoted"`
	Demoted   int        `json:"demoted"`
	Unchanged int        `json:"unchanged"`
	// New counts accounts first scored in the period (From is "").
	New int `json:"new"`
}

// TierMove is one cell of the matrix.
type TierMove struct {
	From     string `json:"from" db:"from_tier"`
	To       string `json:"to" db:"to_tier"`
	Accounts int    `json:"accounts" db:"accounts"`
}

// RiskCell counts the live accounts of one churn-risk band and tier.
type RiskCell struct {
	Band     string `json:"band" db:"band"`
	Tier     string `json:"tier" db:"tier"`
	Accounts int    `json:"accounts" db:"accounts"`
}

// RiskAccount is one of the riskiest live accounts, with why.
type RiskAccount struct {
	ID          string  `json:"id" db:"id"`
	Name        string  `json:"name" db:"name"`
	ManagerID   string  `json:"manager_id" db:"manager_id"`
	ManagerName string  `json:"manager_name" db:"manager_name"`
	Stage       string  `json:"stage" db:"stage"`
	Tier        string  `json:"tier" db:"tier"`
	ChurnRisk   float64 `json:"churn_risk" db:"churn_risk"`
	Health      float64 `json:"health" db:"health"`
	Band        string  `json:"band" db:"-"`
	// Reasons are the latest score's explanations of churn risk and health.
	Reasons Reasons `json:"reasons" db:"reasons"`
	Signals Strings `json:"signals" db:"signals"`
}

// ManagerTasks is one assignee's open and overdue tasks at the period's end.
type ManagerTasks struct {
	ManagerID string `json:"manager_id" db:"assignee_id"`
	Name      string `json:"name" db:"name"`
	Open      int    `json:"open" db:"open"`
	Overdue   int    `json:"overdue" db:"overdue"`
}

// EscalationLevel counts the escalations of one level raised in the period.
type EscalationLevel struct {
	Level        int `json:"level" db:"level"`
	Raised       int `json:"raised" db:"raised"`
	Acknowledged int `json:"acknowledged" db:"acknowledged"`
}

// SLA is the share of tasks completed in the period by their due time.
type SLA struct {
	Completed int       `json:"completed"`
	Within    int       `json:"within_sla"`
	Rate      *float64  `json:"rate"`
	ByKind    []SLAKind `json:"by_kind"`
}

// SLAKind is the SLA share of one task kind.
type SLAKind struct {
	Kind      string   `json:"kind" db:"kind"`
	Completed int      `json:"completed" db:"completed"`
	Within    int      `json:"within_sla" db:"within"`
	Rate      *float64 `json:"rate" db:"-"`
}

// Risk bands of the portfolio, by churn risk (kpiRiskBandsSQL and
// kpiRiskBandsScopedSQL write the same numbers).
const (
	RiskLow    = 0.3 // below: low
	RiskMedium = 0.6 // below: medium; from here: high
)

// RiskBand names the band of a churn risk.
func RiskBand(risk float64) string {
	switch {
	case risk < RiskLow:
		return "low"
	case risk < RiskMedium:
		return "medium"
	}
	return "high"
}

// KPIDefinition says what one figure of the report counts, for the people
// reading it: the same words in the API, the CSV and the page.
type KPIDefinition struct {
	Key   string `json:"key"`
	Title string `json:"title"`
	Text  string `json:"definition"`
}

// boundary is said once in every definition that depends on the period.
const boundary = " Period boundaries: from is included, to is not (from <= t < to, UTC)."

// KPIDefinitions are the figures of KPIReport in the order the portfolio
// shows them. They live beside the SQL so that changing one means reading
// the other.
var KPIDefinitions = []KPIDefinition{
	{"funnel", "Stage funnel", "Entered: accounts that moved into the stage in the period (each account once per stage)." +
		" Conversion: of the accounts that entered a stage in the period, the share that went on to enter the next stage" +
		" (identify → engage → deepen → maintain) later in the period." +
		" Median time in stage: the median length of the stays in the stage that ended in the period," +
		" from the move into the stage to the move out of it." + boundary},
	{"acquisition", "Acquisition rate", "Accounts onboarded (first identified) in the period that reached deepen" +
		" (first business and a completed visit) before the period's end, divided by the accounts onboarded in the period." + boundary},
	{"retention", "Retention rate", "Customers at the period's start (accounts in deepen, maintain or churn recovery" +
		" after every stage change before from) that are not lost or closed at its end (after every stage change before to)," +
		" divided by the customers at the start." + boundary},
	{"win_back", "Churn-recovery win-back rate", "Of the churn-recovery stays that ended in the period," +
		" those that ended back in maintain (recovered) divided by recovered plus lost. Stays ended by ops closing the account are" +
		" shown but left out of the rate." + boundary},
	{"nps", "Net promoter score", "Among NPS answers given in the period (kamflow surveys and survey_response events fed by" +
		" operations, each answer once): percentage of promoters (9–10) minus percentage of detractors (0–6); passives are 7–8." +
		" Ranges from −100 to +100." + boundary},
	{"csat", "Customer satisfaction (CSAT)", "The average of the CSAT answers (1–5) given in the period, overall and by" +
		" week (weeks start on Monday, UTC; the first and last week may be cut by the period)." + boundary},
	{"survey_response", "Survey response rate", "Of the surveys sent in the period, the share answered before the period's end." +
		" Surveys still open at the end (unanswered, and due after to) are left out of the rate and shown as pending." + boundary},
	{"tier_moves", "Tier movement", "For each account scored in the period: its tier at the period's start (from its latest" +
		" score before from; \"new\" when it had none) against its latest tier in the period. Above the diagonal are promotions," +
		" below it demotions." + boundary},
	{"risk_bands", "Accounts by churn risk", "Live accounts (not lost, disqualified or closed) by the churn risk of their latest" +
		" score: low below 0.3, medium from 0.3 to below 0.6, high from 0.6; and by tier. A snapshot of now, whatever the period."},
	{"top_risk", "Highest churn risk", "The ten live accounts with the highest churn risk now, with the reasons their latest" +
		" score gives for their churn risk and health. A snapshot of now, whatever the period."},
	{"tasks_by_manager", "Open and overdue tasks", "Tasks open at the period's end (created before to and not completed or" +
		" cancelled before to), by assignee; overdue means due before to." + boundary},
	{"escalations", "Escalations by level", "Escalations raised in the period by level (1: to the supervisor, 2: to senior" +
		" management), and how many were acknowledged before the period's end." + boundary},
	{"sla", "Done within SLA", "Of the tasks completed in the period (done, not cancelled), the share completed by their due" +
		" time (completed_at <= due_at), overall and by kind." + boundary},
}

// KPIDefinitionOf returns the definition of a figure by key.
func KPIDefinitionOf(key string) KPIDefinition {
	for _, d := range KPIDefinitions {
		if d.Key == key {
			return d
		}
	}
	return KPIDefinition{Key: key, Title: key}
}

// ladderStages are the lifecycle's stages in order; the funnel converts
// between the first four.
var ladderStages = []string{"identify", "engage", "deepen", "maintain", "churn_recovery", "lost", "disqualified", "closed"}

// Every statement takes $1 from, $2 to, $3 "every account" and $4 the
// managers whose accounts count (when $3 is false); a few take fewer, and
// those that read the day rollups take $5 and $6 too, the whole days they
// answer for (kpiWholeDays). The scope is the account's current manager.
const (
	kpiScopeAccount = `($3 OR account_id IN (SELECT id FROM accounts WHERE manager_id = ANY ($4)))`

	// kpiWholeDaysOf picks a day rollup's rows (d) of the whole days
	// [$5, $6); kpiPartialDays is the rest of the period, [$1, $5) and
	// [$6, $2), as ranges (p.lo, p.hi) to read the rows of.
	kpiWholeDaysOf = `d.day >= ($5::timestamptz AT TIME ZONE 'UTC')::date AND d.day < ($6::timestamptz AT TIME ZONE 'UTC')::date`
	kpiPartialDays = `(VALUES ($1::timestamptz, $5::timestamptz), ($6::timestamptz, $2::timestamptz)) p (lo, hi)`

	// kpiFunnelSQL reads the moves into each stage in the period. One that
	// is the account's first into the stage in the period (its previous
	// one, if any, was before the period) counts the account as entered,
	// once per stage; it converted when the account's first move into the
	// next stage at or after it comes before the period's end, which is
	// when the account's last move into the next stage in the period is no
	// earlier than its first into this one. An onboarding (the move from
	// no stage into the ladder) counts the account as identified, and as
	// deepened when its first move into deepen at or after it comes before
	// the period's end: the workflow onboards an account once, with its
	// first transition, so this counts what grouping the period's moves by
	// account did. These facts come with the row
	// (migrations/0006_kpi_entries.sql), so nothing is grouped by account.
	kpiFunnelSQL = `
WITH stages AS (
    SELECT to_stage,
        count(*) FILTER (WHERE prev_entry_at < $1 OR prev_entry_at IS NULL) AS entered,
        count(*) FILTER (WHERE (prev_entry_at < $1 OR prev_entry_at IS NULL) AND next_up_at < $2) AS converted,
        count(*) FILTER (WHERE from_stage = '') AS onboarded,
        count(*) FILTER (WHERE from_stage = '' AND deepen_at < $2) AS deepened
    FROM stage_transitions
    WHERE to_stage IN ('identify', 'engage', 'deepen', 'maintain', 'churn_recovery', 'lost', 'disqualified', 'closed')
      AND at >= $1 AND at < $2 AND ` + kpiScopeAccount + `
    GROUP BY to_stage
)
SELECT COALESCE(sum(onboarded) FILTER (WHERE to_stage IN ('identify', 'engage', 'deepen', 'maintain')), 0) AS identified,
    COALESCE(sum(deepened) FILTER (WHERE to_stage IN ('identify', 'engage', 'deepen', 'maintain')), 0) AS deepened,
    COALESCE(jsonb_object_agg(to_stage, entered), '{}') AS entered,
    json_build_array(COALESCE(sum(converted) FILTER (WHERE to_stage = 'identify'), 0),
        COALESCE(sum(converted) FILTER (WHERE to_stage = 'engage'), 0),
        COALESCE(sum(converted) FILTER (WHERE to_stage = 'deepen'), 0)) AS converted
FROM stages`

	// kpiStaysSQL reads the stays that ended in the period, by the stage
	// they were in: a transition ends the stay that began at its
	// entered_at. Listing the stages makes one index range per stage, read
	// in stage order, so nothing is sorted but each stage's stay lengths.
	kpiStaysSQL = `
SELECT from_stage AS stage, count(*) AS stays,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY date_part('epoch', at - entered_at) / 86400) AS median_days,
    count(*) FILTER (WHERE to_stage = 'maintain') AS to_maintain,
    count(*) FILTER (WHERE to_stage = 'lost') AS to_lost,
    count(*) FILTER (WHERE to_stage = 'closed') AS to_closed
FROM stage_transitions
WHERE from_stage IN ('identify', 'engage', 'deepen', 'maintain', 'churn_recovery', 'lost', 'disqualified', 'closed')
  AND at >= $1 AND at < $2 AND ` + kpiScopeAccount + `
GROUP BY from_stage`

	// kpiRetentionSQL: an account's stage at a moment is the one of the
	// stay open then, the from_stage of the transition that ends it (at or
	// after the moment, entered_at before it or none: the account's first);
	// with no such transition, its stage now. So the customers at the
	// period's start are those whose stage has not changed since before it
	// (stage_since, from the accounts table) and those whose stay open at
	// the start was in a customer stage; of the latter, the stay open at the
	// end gives where they ended, and without one the account's stage now
	// (of which only the end stages count).
	kpiRetentionSQL = `
WITH opening AS (
    SELECT account_id FROM stage_transitions
    WHERE from_stage IN ('deepen', 'maintain', 'churn_recovery') AND at >= $1
      AND (entered_at < $1 OR entered_at IS NULL) AND ` + kpiScopeAccount + `
), closing AS (
    SELECT account_id, from_stage AS stage FROM stage_transitions
    WHERE from_stage IN ('', 'identify', 'engage', 'deepen', 'maintain', 'churn_recovery', 'lost', 'disqualified', 'closed')
      AND at >= $2 AND (entered_at < $2 OR entered_at IS NULL)
), ended AS (
    SELECT COALESCE(c.stage, a.stage) AS stage
    FROM opening o
    LEFT JOIN closing c ON c.account_id = o.account_id
    LEFT JOIN accounts a ON a.id = o.account_id AND a.stage IN ('lost', 'disqualified', 'closed')
)
SELECT count(*) + (SELECT count(*) FROM accounts
        WHERE stage IN ('deepen', 'maintain', 'churn_recovery') AND stage_since < $1 AND ($3 OR manager_id = ANY ($4))) AS active,
    count(*) FILTER (WHERE stage = 'lost') AS lost,
    count(*) FILTER (WHERE stage IN ('closed', 'disqualified')) AS closed
FROM ended`

	// kpiAnswersSQL counts survey answers by week: kamflow's own surveys
	// (a response carries the time of its answer, as its survey does), of
	// the period's whole days [$5, $6) from kpi_answer_days
	// (migrations/0008_kpi_days.sql) and of the rest, [$1, $5) and
	// [$6, $2), from the rows (see kpiWholeDays); and survey_response
	// events fed by operations, from the rows, the events that record the
	// answer to one of kamflow's surveys (survey_id, see insertEventsSQL)
	// left out, the same rule as scoring. Weeks are binned from a Monday
	// (2001-01-01), UTC.
	kpiAnswersSQL = `
WITH answers AS (
    SELECT d.day::timestamp AT TIME ZONE 'UTC' AS at, d.nps_responses, d.promoters, d.passives, d.detractors,
        d.csat_responses, d.csat_sum
    FROM kpi_answer_days d
    WHERE ` + kpiWholeDaysOf + `
    UNION ALL
    SELECT a.at, (a.nps IS NOT NULL)::int, (a.nps >= 9)::int, (a.nps BETWEEN 7 AND 8)::int, (a.nps <= 6)::int,
        (a.csat IS NOT NULL)::int, a.csat
    FROM (
        SELECT r.answered_at AS at, r.nps, r.csat
        FROM ` + kpiPartialDays + `
        JOIN survey_responses r ON r.answered_at >= p.lo AND r.answered_at < p.hi
        WHERE ($3 OR r.survey_id IN (SELECT s.id FROM surveys s
            WHERE s.answered_at >= $1 AND s.answered_at < $2
              AND s.account_id IN (SELECT id FROM accounts WHERE manager_id = ANY ($4))))
        UNION ALL
        SELECT e.at, e.nps, e.csat
        FROM account_events e
        WHERE e.kind = 'survey_response' AND e.status = 'applied' AND e.survey_id IS NULL
          AND e.at >= $1 AND e.at < $2 AND (e.nps IS NOT NULL OR e.csat IS NOT NULL)
          AND ($3 OR e.account_id IN (SELECT id FROM accounts WHERE manager_id = ANY ($4)))) a
)
SELECT date_bin('7 days', at, '2001-01-01 00:00:00+00') AS week,
    COALESCE(sum(nps_responses), 0) AS nps_responses,
    COALESCE(sum(promoters), 0) AS promoters,
    COALESCE(sum(passives), 0) AS passives,
    COALESCE(sum(detractors), 0) AS detractors,
    COALESCE(sum(csat_responses), 0) AS csat_responses,
    COALESCE(sum(csat_sum), 0) AS csat_sum
FROM answers GROUP BY 1
HAVING sum(nps_responses) + sum(csat_responses) > 0
ORDER BY 1`

	// kpiSurveysSQL: a survey is still open at the period's end when it
	// can be answered after it: unanswered before to, and due after to (a
	// link works until its due time, not at it).
	kpiSurveysSQL = `
SELECT count(*) AS sent,
    count(*) FILTER (WHERE answered_at < $2) AS answered,
    count(*) FILTER (WHERE (answered_at IS NULL OR answered_at >= $2) AND due_at > $2) AS pending
FROM surveys
WHERE sent_at >= $1 AND sent_at < $2 AND ` + kpiScopeAccount

	// kpiTierMovesSQL pairs each account's first score in the period, which
	// carries its tier before the period (prev_tier, empty when it had none:
	// new), with its tier at the period's end: the prev_tier of its first
	// score from the end on or, with none, its tier now (InsertScore keeps
	// accounts.tier that of the latest score). Each side is one index range.
	kpiTierMovesSQL = `
SELECT f.prev_tier AS from_tier, COALESCE(e.prev_tier, a.tier) AS to_tier, count(*) AS accounts
FROM scores f
JOIN accounts a ON a.id = f.account_id
LEFT JOIN scores e ON e.account_id = f.account_id AND e.at >= $2 AND e.prev_at < $2
WHERE f.at >= $1 AND f.at < $2 AND f.prev_at < $1
GROUP BY 1, 2`

	// kpiTierMovesScopedSQL pairs the same two tiers for some managers'
	// accounts, each by one index probe per account of theirs (its latest
	// score in the period and its latest before), which beats reading the
	// period's scores of every account ($3 is the managers).
	kpiTierMovesScopedSQL = `
SELECT COALESCE(p.tier, '') AS from_tier, l.tier AS to_tier, count(*) AS accounts
FROM accounts a
CROSS JOIN LATERAL (SELECT s.tier FROM scores s WHERE s.account_id = a.id AND s.at >= $1 AND s.at < $2
    ORDER BY s.at DESC, s.key DESC LIMIT 1) l
LEFT JOIN LATERAL (SELECT s.tier FROM scores s WHERE s.account_id = a.id AND s.at < $1
    ORDER BY s.at DESC, s.key DESC LIMIT 1) p ON true
WHERE a.manager_id = ANY ($3)
GROUP BY 1, 2`

	// kpiLive is the live accounts of the scope ($1 every account, $2 the
	// managers).
	kpiLive = ` stage NOT IN ('lost', 'disqualified', 'closed') AND ($1 OR manager_id = ANY ($2))`

	// kpiRiskBandsSQL counts every live account by tier and band, each
	// cell one range of accounts_live_tier_risk_idx: counting index entries
	// is cheaper than labelling and hashing every account (half the CPU on
	// 100,000 accounts). The tiers are those the accounts table allows, and
	// the bands split churn risk as RiskBand does (NaN is high there too).
	kpiRiskBandsSQL = `
SELECT c.band, t.tier, c.accounts
FROM (VALUES ('prospect'), ('ordinary'), ('core'), ('vip')) t (tier)
CROSS JOIN LATERAL (
    SELECT 'low' AS band, count(*) AS accounts FROM accounts
    WHERE stage NOT IN ('lost', 'disqualified', 'closed') AND tier = t.tier AND churn_risk < 0.3
    UNION ALL
    SELECT 'medium', count(*) FROM accounts
    WHERE stage NOT IN ('lost', 'disqualified', 'closed') AND tier = t.tier AND churn_risk >= 0.3 AND churn_risk < 0.6
    UNION ALL
    SELECT 'high', count(*) FROM accounts
    WHERE stage NOT IN ('lost', 'disqualified', 'closed') AND tier = t.tier AND churn_risk >= 0.6) c
WHERE c.accounts > 0`

	// kpiRiskBandsScopedSQL counts some managers' live accounts, which come
	// by manager ($1 is false, $2 the managers). It reads them in
	// churn-risk order, which the count does not need: it makes
	// accounts_live_risk_idx, which holds all the count needs, cheaper to
	// the planner than the table and a sort.
	kpiRiskBandsScopedSQL = `
SELECT band, tier, count(*) AS accounts
FROM (SELECT CASE WHEN churn_risk < 0.3 THEN 'low' WHEN churn_risk < 0.6 THEN 'medium' ELSE 'high' END AS band, tier
      FROM accounts WHERE` + kpiLive + `
      ORDER BY churn_risk DESC) a
GROUP BY 1, 2`

	kpiTopRiskSQL = `
SELECT a.id, a.name, COALESCE(a.manager_id, '') AS manager_id, COALESCE(m.name, '') AS manager_name,
    a.stage, a.tier, a.churn_risk, a.health,
    COALESCE((SELECT jsonb_agg(r) FROM jsonb_array_elements(sc.reasons) r
              WHERE r->>'field' IN ('churn_risk', 'health')), '[]') AS reasons,
    COALESCE(sc.signals, '{}') AS signals
FROM (SELECT id, name, manager_id, stage, tier, churn_risk, health FROM accounts
      WHERE` + kpiLive + `
      ORDER BY churn_risk DESC, id LIMIT $3) a
LEFT JOIN managers m ON m.id = a.manager_id
LEFT JOIN LATERAL (SELECT reasons, signals FROM scores s WHERE s.account_id = a.id
    ORDER BY s.at DESC, s.key DESC LIMIT 1) sc ON true
ORDER BY a.churn_risk DESC, a.id`

	// kpiOpenTasksSQL: open at $1 (the period's end) means created before
	// it and still open, or closed (done or cancelled) at or after it.
	kpiOpenTasksSQL = `
WITH open AS (
    SELECT assignee_id, due_at FROM tasks
    WHERE state = 'open' AND created_at < $1
      AND ($2 OR account_id IN (SELECT id FROM accounts WHERE manager_id = ANY ($3)))
    UNION ALL
    SELECT assignee_id, due_at FROM tasks
    WHERE state IN ('done', 'cancelled') AND completed_at >= $1 AND created_at < $1
      AND ($2 OR account_id IN (SELECT id FROM accounts WHERE manager_id = ANY ($3)))
)
SELECT o.assignee_id, COALESCE(m.name, '') AS name, count(*) AS open,
    count(*) FILTER (WHERE o.due_at < $1) AS overdue
FROM open o LEFT JOIN managers m ON m.id = o.assignee_id
GROUP BY 1, 2
ORDER BY overdue DESC, open DESC, o.assignee_id`

	kpiEscalationsSQL = `
SELECT level, count(*) AS raised, count(*) FILTER (WHERE acknowledged_at < $2) AS acknowledged
FROM escalations
WHERE created_at >= $1 AND created_at < $2 AND ` + kpiScopeAccount + `
GROUP BY level ORDER BY level`

	// kpiSLASQL counts the done tasks of the period by kind: of its whole
	// days [$5, $6) from kpi_sla_days (migrations/0008_kpi_days.sql), of
	// the rest, [$1, $5) and [$6, $2), from the rows (see kpiWholeDays).
	kpiSLASQL = `
SELECT kind, sum(completed) AS completed, sum(within) AS within
FROM (
    SELECT d.kind, d.completed, d.within
    FROM kpi_sla_days d
    WHERE ` + kpiWholeDaysOf + `
    UNION ALL
    SELECT t.kind, 1, (t.completed_at <= t.due_at)::int
    FROM ` + kpiPartialDays + `
    JOIN tasks t ON t.state = 'done' AND t.completed_at >= p.lo AND t.completed_at < p.hi
    WHERE ($3 OR t.account_id IN (SELECT id FROM accounts WHERE manager_id = ANY ($4)))
) x
GROUP BY kind HAVING sum(completed) > 0 ORDER BY kind`
)

// kpiSettingsSQL tunes the transaction of one report statement. JIT
// compilation costs a few hundred milliseconds of CPU for statements the
// planner finds expensive, more than they take to run; a period's rows per
// account are grouped in memory, which the default work_mem (4 MB) is too
// small for at 100,000 accounts; and the report already runs two
// statements at once, so parallel workers only add their own start and
// coordination to the CPU it needs (at 100,000 accounts they made the
// report slower on two cores).
const kpiSettingsSQL = `SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true),
    set_config('max_parallel_workers_per_gather', '0', true)`

// kpiWholeDays returns the part of [from, to) a statement reads from the day
// rollups (migrations/0008_kpi_days.sql): the period's whole UTC days
// [lo, hi) for a report on every account, and nothing (lo = hi = to) for
// one on some managers' accounts, since the rollups are not by manager, or
// a period without a whole day. The rest, [from, lo) and [hi, to), is read
// from the rows.
func kpiWholeDays(from, to time.Time, all bool) (lo, hi time.Time) {
	from, to = from.UTC(), to.UTC()
	lo = time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, time.UTC)
	if lo.Before(from) {
		lo = lo.AddDate(0, 0, 1)
	}
	hi = time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, time.UTC)
	if !all || !lo.Before(hi) {
		return to, to
	}
	return lo, hi
}

// kpiRead runs fn in a read-only transaction with kpiSettingsSQL applied.
func (s *Store) kpiRead(ctx context.Context, what string, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%s: begin: %w", what, err)
	}
	defer func() {
		// Read only: ending it by rollback discards nothing.
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) && err == nil {
			err = fmt.Errorf("%s: end: %w", what, rbErr)
		}
	}()
	if _, err := tx.ExecContext(ctx, kpiSettingsSQL); err != nil {
		return fmt.Errorf("%s: settings: %w", what, err)
	}
	if err := fn(tx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// KPIs computes the portfolio's figures for q. The statements run
// concurrently, each in its own read-only transaction (one snapshot each).
func (s *Store) KPIs(ctx context.Context, q KPIQuery) (KPIReport, error) {
	if !q.From.Before(q.To) {
		return KPIReport{}, fmt.Errorf("kpis: from %s is not before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	top := q.TopRisk
	if top <= 0 {
		top = 10
	}
	all := q.Managers == nil
	managers := textArray(q.Managers)
	from, to := q.From.UTC(), q.To.UTC()
	dayLo, dayHi := kpiWholeDays(from, to, all)
	r := KPIReport{From: from, To: to}

	// Each group of statements writes its own fields of r (the lifecycle
	// figures their own variables, combined once all are in), largest
	// first. Two at a time: on a two-core database the largest (tier moves,
	// half the report's CPU) has a core to itself while the rest run one
	// after another on the other; with a third at once it shared two cores
	// with two others and finished last (a 365-day report on 100,000
	// accounts took 230-246 ms instead of 177-181).
	var (
		funnel    kpiFunnel
		stays     []kpiStays
		retention kpiRetention
	)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	read := func(what string, fn func(tx *sqlx.Tx) error) {
		g.Go(func() error { return s.kpiRead(ctx, what, fn) })
	}
	read("tier moves", func(tx *sqlx.Tx) error {
		if all {
			return sqlx.SelectContext(ctx, tx, &r.TierMoves.Cells, kpiTierMovesSQL, from, to)
		}
		return sqlx.SelectContext(ctx, tx, &r.TierMoves.Cells, kpiTierMovesScopedSQL, from, to, managers)
	})
	read("tasks", func(tx *sqlx.Tx) error {
		if err := sqlx.SelectContext(ctx, tx, &r.SLA.ByKind, kpiSLASQL, from, to, all, managers, dayLo, dayHi); err != nil {
			return fmt.Errorf("sla: %w", err)
		}
		if err := sqlx.SelectContext(ctx, tx, &r.TasksByManager, kpiOpenTasksSQL, to, all, managers); err != nil {
			return fmt.Errorf("open tasks: %w", err)
		}
		return nil
	})
	read("survey answers", func(tx *sqlx.Tx) error {
		return sqlx.SelectContext(ctx, tx, &r.Satisfaction.Weeks, kpiAnswersSQL, from, to, all, managers, dayLo, dayHi)
	})
	read("stays and retention", func(tx *sqlx.Tx) error {
		if err := sqlx.SelectContext(ctx, tx, &stays, kpiStaysSQL, from, to, all, managers); err != nil {
			return fmt.Errorf("stays: %w", err)
		}
		if err := sqlx.GetContext(ctx, tx, &retention, kpiRetentionSQL, from, to, all, managers); err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		return nil
	})
	read("surveys and escalations", func(tx *sqlx.Tx) error {
		if err := sqlx.GetContext(ctx, tx, &r.SurveyResponse, kpiSurveysSQL, from, to, all, managers); err != nil {
			return fmt.Errorf("surveys sent: %w", err)
		}
		if err := sqlx.SelectContext(ctx, tx, &r.Escalations, kpiEscalationsSQL, from, to, all, managers); err != nil {
			return fmt.Errorf("escalations: %w", err)
		}
		return nil
	})
	read("funnel", func(tx *sqlx.Tx) error {
		return sqlx.GetContext(ctx, tx, &funnel, kpiFunnelSQL, from, to, all, managers)
	})
	read("risk", func(tx *sqlx.Tx) error {
		bands, args := kpiRiskBandsSQL, []any{}
		if !all {
			bands, args = kpiRiskBandsScopedSQL, []any{all, managers}
		}
		if err := sqlx.SelectContext(ctx, tx, &r.RiskBands, bands, args...); err != nil {
			return fmt.Errorf("bands: %w", err)
		}
		if err := sqlx.SelectContext(ctx, tx, &r.TopRisk, kpiTopRiskSQL, all, managers, top); err != nil {
			return fmt.Errorf("top accounts: %w", err)
		}
		return nil
	})
	err := g.Wait()
	if err == nil {
		err = r.lifecycle(funnel, stays, retention)
	}
	if err != nil {
		return KPIReport{}, fmt.Errorf("kpis %s to %s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	r.finish()
	return r, nil
}

// kpiFunnel is kpiFunnelSQL's row: entered by stage (a stage nobody
// entered may be missing), converted for the first three.
type kpiFunnel struct {
	Identified int    `db:"identified"`
	Deepened   int    `db:"deepened"`
	Entered    []byte `db:"entered"`
	Converted  []byte `db:"converted"`
}

// kpiStays are the stays in one stage that ended in the period, with
// where they ended.
type kpiStays struct {
	Stage      string   `db:"stage"`
	Stays      int      `db:"stays"`
	MedianDays *float64 `db:"median_days"`
	ToMaintain int      `db:"to_maintain"`
	ToLost     int      `db:"to_lost"`
	ToClosed   int      `db:"to_closed"`
}

// kpiRetention is kpiRetentionSQL's row.
type kpiRetention struct {
	Active int `db:"active"`
	Lost   int `db:"lost"`
	Closed int `db:"closed"`
}

// lifecycle fills the funnel, acquisition, retention and win-back.
func (r *KPIReport) lifecycle(f kpiFunnel, stays []kpiStays, ret kpiRetention) error {
	var (
		entered   map[string]int
		converted []int
	)
	if err := errors.Join(json.Unmarshal(f.Entered, &entered), json.Unmarshal(f.Converted, &converted)); err != nil {
		return fmt.Errorf("funnel: decode: %w", err)
	}
	if len(converted) != 3 {
		return fmt.Errorf("funnel: %d converted counts", len(converted))
	}
	r.Funnel = make([]FunnelStage, 0, len(ladderStages))
	for i, st := range ladderStages {
		fs := FunnelStage{Stage: st, Entered: entered[st]}
		if i < len(converted) {
			fs.Next, fs.Converted = ladderStages[i+1], converted[i]
			fs.Conversion = ratio(fs.Converted, fs.Entered)
		}
		if i := slices.IndexFunc(stays, func(x kpiStays) bool { return x.Stage == st }); i >= 0 {
			fs.StaysEnded, fs.MedianDays = stays[i].Stays, stays[i].MedianDays
			if st == "churn_recovery" {
				r.WinBack = WinBack{Recovered: stays[i].ToMaintain, Lost: stays[i].ToLost, Closed: stays[i].ToClosed}
			}
		}
		r.Funnel = append(r.Funnel, fs)
	}
	r.Acquisition = Acquisition{Identified: f.Identified, Deepened: f.Deepened}
	r.Retention = Retention{ActiveAtStart: ret.Active, Lost: ret.Lost, Closed: ret.Closed,
		Retained: ret.Active - ret.Lost - ret.Closed}
	return nil
}

// finish derives the rates and totals from the counts.
func (r *KPIReport) finish() {
	r.Acquisition.Rate = ratio(r.Acquisition.Deepened, r.Acquisition.Identified)
	r.Retention.Rate = ratio(r.Retention.Retained, r.Retention.ActiveAtStart)
	r.WinBack.Rate = ratio(r.WinBack.Recovered, r.WinBack.Recovered+r.WinBack.Lost)

	sat := &r.Satisfaction
	if sat.Weeks == nil {
		sat.Weeks = []SatisfactionWeek{}
	}
	csatSum := 0
	for i := range sat.Weeks {
		w := &sat.Weeks[i]
		w.Week = w.Week.UTC()
		w.NPS = nps(w.Promoters, w.Detractors, w.NPSResponses)
		w.CSAT = mean(w.CSATSum, w.CSATResponses)
		sat.NPSResponses += w.NPSResponses
		sat.Promoters += w.Promoters
		sat.Passives += w.Passives
		sat.Detractors += w.Detractors
		sat.CSATResponses += w.CSATResponses
		csatSum += w.CSATSum
	}
	sat.NPS = nps(sat.Promoters, sat.Detractors, sat.NPSResponses)
	sat.CSAT = mean(csatSum, sat.CSATResponses)

	sr := &r.SurveyResponse
	sr.Rate = ratio(sr.Answered, sr.Sent-sr.Pending)

	tm := &r.TierMoves
	if tm.Cells == nil {
		tm.Cells = []TierMove{}
	}
	rank := func(t string) int { return slices.Index([]string{"prospect", "ordinary", "core", "vip"}, t) }
	for _, c := range tm.Cells {
		switch {
		case c.From == "":
			tm.New += c.Accounts
		case rank(c.To) > rank(c.From):
			tm.Promoted += c.Accounts
		case rank(c.To) < rank(c.From):
			tm.Demoted += c.Accounts
		default:
			tm.Unchanged += c.Accounts
		}
	}
	slices.SortFunc(tm.Cells, func(a, b TierMove) int {
		if a.From != b.From {
			return rank(a.From) - rank(b.From)
		}
		return rank(a.To) - rank(b.To)
	})

	if r.RiskBands == nil {
		r.RiskBands = []RiskCell{}
	}
	if r.TopRisk == nil {
		r.TopRisk = []RiskAccount{}
	}
	for i := range r.TopRisk {
		r.TopRisk[i].Band = RiskBand(r.TopRisk[i].ChurnRisk)
	}
	if r.TasksByManager == nil {
		r.TasksByManager = []ManagerTasks{}
	}
	if r.Escalations == nil {
		r.Escalations = []EscalationLevel{}
	}
	if r.SLA.ByKind == nil {
		r.SLA.ByKind = []SLAKind{}
	}
	for i := range r.SLA.ByKind {
		k := &r.SLA.ByKind[i]
		k.Rate = ratio(k.Within, k.Completed)
		r.SLA.Completed += k.Completed
		r.SLA.Within += k.Within
	}
	r.SLA.Rate = ratio(r.SLA.Within, r.SLA.Completed)
}

// ratio is n/d, or nil when there is nothing to divide by: "no data" is
// not 0%.
func ratio(n, d int) *float64 {
	if d <= 0 {
		return nil
	}
	v := float64(n) / float64(d)
	return &v
}

func mean(sum, n int) *float64 { return ratio(sum, n) }

// nps is the net promoter score: percentage of promoters minus percentage
// of detractors.
func nps(promoters, detractors, n int) *float64 {
	if n <= 0 {
		return nil
	}
	v := 100 * float64(promoters-detractors) / float64(n)
	return &v
}

// Benchmark data. The KPI queries are only worth measuring on a record
// shaped like a real one: accounts spread over three years of onboarding,
// most of them walking the stage ladder, some churning and some won back,
// scores every two months, visits with and without SLA breaches, surveys
// half answered, escalations on late work, and a stream of business events.
// Every row is made by a set-based statement, so 100,000 accounts and a
// million events load in well under a minute.

// seedKPISQL are the statements of SeedKPIBench, run in one transaction
// (the temporary tables live on its connection). Arguments: $1 accounts,
// $2 events, $3 now; each statement names the ones it uses.
var seedKPISQL = []struct {
	sql  string
	args []int // indexes into SeedKPIBench's (accounts, events, now)
}{
	{`SELECT setseed(0.4242)`, nil},
	{`INSERT INTO managers (id, name, email, role, supervisor_id) VALUES
        ('bench-senior', '陈静 Chen Jing', 'senior@bench.example', 'senior', NULL),
        ('bench-ops', 'Ops Desk', 'ops@bench.example', 'ops', NULL)`, nil},
	// A supervisor per 5,000 accounts and a manager per 500.
	{`INSERT INTO managers (id, name, email, role, supervisor_id)
SELECT 'bench-sup-' || i, 'Supervisor ' || i, 'sup-' || i || '@bench.example', 'supervisor', 'bench-senior'
FROM generate_series(1, greatest(1, ceil($1::int / 5000.0)::int)) i`, []int{0}},
	{`INSERT INTO managers (id, name, email, role, supervisor_id)
SELECT 'bench-m-' || i,
    (ARRAY['王','李','张','刘','陈','杨','赵','黄','周','吴'])[1 + i % 10] ||
    (ARRAY['伟','芳','娜','敏','静','丽','强','磊','军','洋'])[1 + (i / 10) % 10] || ' ' || i,
    'm-' || i || '@bench.example', 'manager',
    'bench-sup-' || (1 + (i - 1) % greatest(1, ceil($1::int / 5000.0)::int))
FROM generate_series(1, greatest(1, ceil($1::int / 500.0)::int)) i`, []int{0}},
	// One row of dice per account; kpi_life turns them into stage times.
	// NULL means the account never takes that step; a NULL propagates, so
	// an account that never engaged never deepens either.
	{`CREATE TEMP TABLE kpi_seed ON COMMIT DROP AS
SELECT i, 'bench-' || i AS id, 'bench-m-' || (1 + (i - 1) % greatest(1, ceil($1::int / 500.0)::int)) AS manager_id,
    $2::timestamptz - random() * interval '1095 days' AS t0,
    random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5, random() AS r6,
    random() AS d1, random() AS d2, random() AS d3, random() AS d4, random() AS d5, random() AS d6
FROM generate_series(1, $1::int) i`, []int{0, 2}},
	{`CREATE TEMP TABLE kpi_life ON COMMIT DROP AS
SELECT s.i, s.id, s.manager_id, s.t0, s.r6, s.d6, s.d1, e.t_engage, e.t_disq, d.t_deepen, d.t_back, m.t_maintain,
    c.t_churn, c.t_recovered, c.t_lost, c.t_closed
FROM kpi_seed s
CROSS JOIN LATERAL (SELECT
    CASE WHEN s.r1 < 0.85 THEN s.t0 + (0.5 + s.d1 * 30) * interval '1 day' END AS t_engage,
    CASE WHEN s.r1 >= 0.93 THEN s.t0 + (40 + s.d1 * 50) * interval '1 day' END AS t_disq) e
CROSS JOIN LATERAL (SELECT
    CASE WHEN s.r2 < 0.72 THEN e.t_engage + (3 + s.d2 * 80) * interval '1 day' END AS t_deepen,
    CASE WHEN s.r2 >= 0.92 THEN e.t_engage + interval '90 days' END AS t_back) d
CROSS JOIN LATERAL (SELECT
    CASE WHEN s.r3 < 0.8 THEN d.t_deepen + (20 + s.d3 * 150) * interval '1 day' END AS t_maintain) m
CROSS JOIN LATERAL (SELECT
    CASE WHEN s.r4 < 0.35 THEN m.t_maintain + (30 + s.d4 * 400) * interval '1 day' END AS t_churn) c0
CROSS JOIN LATERAL (SELECT c0.t_churn,
    CASE WHEN s.r5 < 0.55 THEN c0.t_churn + (10 + s.d5 * 120) * interval '1 day' END AS t_recovered,
    CASE WHEN s.r5 >= 0.55 AND s.r5 < 0.9 THEN c0.t_churn + (60 + s.d5 * 120) * interval '1 day' END AS t_lost,
    CASE WHEN s.r4 >= 0.97 THEN m.t_maintain + (30 + s.d4 * 300) * interval '1 day' END AS t_closed) c`, nil},
	{`INSERT INTO accounts (id, name, manager_id, industry, region, revenue, growth_rate, market_share,
    contact_name, contact_email, created_at, updated_at, stage_since)
SELECT id,
    CASE i % 4 WHEN 0 THEN 'Nordic Freight ' || i || ' AB' WHEN 1 THEN '上海华东精密机械 ' || i || ' 有限公司'
               WHEN 2 THEN '北京云图科技 ' || i ELSE 'Acme Maschinenbau ' || i || ' GmbH' END,
    manager_id, (ARRAY['Manufacturing','Logistics','Retail','Finance','Energy'])[1 + i % 5],
    (ARRAY['East','North','South','West'])[1 + i % 4], round((1e6 + r6 * 2e8)::numeric, 2), d6 * 0.3, d1 * 0.4,
    'Contact ' || i, 'contact-' || i || '@bench.example', t0, t0, t0
FROM kpi_life ORDER BY id`, nil},
	// entered_at, prev_entry_at, next_up_at, deepen_at and the scores'
	// prev_at and prev_tier as RecordTransition and InsertScore fill them:
	// from the account's rows before (by (at, key)) and after.
	{`INSERT INTO stage_transitions (key, account_id, from_stage, to_stage, reason, at,
    entered_at, prev_entry_at, next_up_at, deepen_at)
SELECT key, account_id, from_stage, to_stage, 'seeded', at, lag(at) OVER (PARTITION BY account_id ORDER BY at, key),
    lag(at) OVER (PARTITION BY account_id, to_stage ORDER BY at, key),
    CASE to_stage
        WHEN 'identify' THEN min(at) FILTER (WHERE to_stage = 'engage') OVER later
        WHEN 'engage' THEN min(at) FILTER (WHERE to_stage = 'deepen') OVER later
        WHEN 'deepen' THEN min(at) FILTER (WHERE to_stage = 'maintain') OVER later
    END,
    CASE WHEN from_stage = '' THEN min(at) FILTER (WHERE to_stage = 'deepen') OVER later END
FROM (SELECT l.id || ':stage:' || row_number() OVER (PARTITION BY l.id ORDER BY x.at, x.ord) AS key, l.id AS account_id,
    x.from_stage, x.to_stage, x.at
FROM kpi_life l
CROSS JOIN LATERAL (VALUES
    (1, '', 'identify', l.t0),
    (2, 'identify', 'engage', l.t_engage),
    (3, 'identify', 'disqualified', l.t_disq),
    (4, 'engage', 'identify', l.t_back),
    (5, 'engage', 'deepen', l.t_deepen),
    (6, 'deepen', 'maintain', l.t_maintain),
    (7, 'maintain', 'churn_recovery', l.t_churn),
    (8, 'churn_recovery', 'maintain', l.t_recovered),
    (9, 'churn_recovery', 'lost', l.t_lost),
    (10, 'maintain', 'closed', l.t_closed)
) x(ord, from_stage, to_stage, at)
WHERE x.at <= $1) t
WINDOW later AS (PARTITION BY account_id ORDER BY at DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY account_id, at`, []int{2}},
	{`UPDATE accounts a SET stage = t.to_stage, stage_since = t.at, updated_at = t.at
FROM (SELECT DISTINCT ON (account_id) account_id, to_stage, at FROM stage_transitions
      WHERE account_id LIKE 'bench-%' ORDER BY account_id, at DESC, key DESC) t
WHERE a.id = t.account_id`, nil},
	// Scores every 60 days from first contact until the account ended,
	// with a tier that mostly climbs and sometimes falls back, and a churn
	// risk that rises in the month before a churn warning.
	{`INSERT INTO scores (key, account_id, at, value, potential, loyalty, abc, segment, strategy, tier, health,
    churn_risk, clv, lifecycle, reasons, signals, prev_at, prev_tier)
SELECT s.*, COALESCE(lag(at) OVER w, '-infinity'), COALESCE(lag(tier) OVER w, '')
FROM (SELECT l.id || ':score:' || (k + 1) AS key, l.id AS account_id, x.at, 'medium', 'medium', 'medium', 'B', 'potential',
    'general_2', (ARRAY['prospect','ordinary','core','vip'])[1 + least(3, greatest(0,
        floor(l.r6 * 2)::int + floor(k * l.d6 / 3)::int - (random() < 0.12)::int))] AS tier,
    round((100 * (1 - x.risk))::numeric, 1), round(x.risk::numeric, 3), 0, 'growth',
    jsonb_build_array(
        jsonb_build_object('field', 'health', 'text', 'value 3/6 and loyalty 3/6 weighted 60/40: ' || round((100 * (1 - x.risk))::numeric, 1)),
        jsonb_build_object('field', 'churn_risk', 'text',
            CASE WHEN x.risk >= 0.6 THEN 'falling orders, severe complaint: ' ELSE 'no warning signs: ' END || round(x.risk::numeric, 2))),
    CASE WHEN x.risk >= 0.6 THEN ARRAY['risk_high', 'falling_orders'] ELSE '{}' END
FROM kpi_life l
CROSS JOIN LATERAL generate_series(0, least(30, floor(extract(epoch FROM
    least($1, l.t_lost, l.t_closed, l.t_back) - l.t_engage) / (60 * 86400))::int)) k
CROSS JOIN LATERAL (SELECT l.t_engage + k * interval '60 days' + random() * interval '5 days' AS at) a
CROSS JOIN LATERAL (SELECT a.at, CASE
    WHEN l.t_churn IS NOT NULL AND a.at >= l.t_churn - interval '30 days' AND a.at < COALESCE(l.t_recovered, l.t_lost, 'infinity')
        THEN 0.55 + random() * 0.45
    ELSE random() * 0.5 END AS risk) x
WHERE l.t_engage <= $1 AND x.at <= $1) s
WINDOW w AS (PARTITION BY account_id ORDER BY at, key)
ORDER BY account_id, at`, []int{2}},
	{`UPDATE accounts a SET tier = s.tier, health = s.health, churn_risk = s.churn_risk,
    value = s.value, potential = s.potential, loyalty = s.loyalty
FROM (SELECT DISTINCT ON (account_id) account_id, tier, health, churn_risk, value, potential, loyalty
      FROM scores WHERE account_id LIKE 'bench-%' ORDER BY account_id, at DESC, key DESC) s
WHERE a.id = s.account_id`, nil},
	{`INSERT INTO account_events (account_id, external_id, kind, at, amount, severity, nps, csat, note, recorded_at)
SELECT l.id, 'bench-ev-' || j, x.kind, x.at,
    CASE WHEN x.kind = 'order' THEN round((1000 + random() * 500000)::numeric, 2) ELSE 0 END,
    CASE WHEN x.kind = 'complaint' THEN 1 + floor(random() * 5)::int ELSE 0 END,
    CASE WHEN x.kind = 'survey_response' AND x.r2 < 0.5 THEN (ARRAY[0,3,5,6,7,7,8,8,8,9,9,9,9,10,10,10,10,10,10])[1 + floor(random() * 19)::int] END,
    CASE WHEN x.kind = 'survey_response' AND x.r2 >= 0.5 THEN (ARRAY[2,3,3,4,4,4,4,5,5,5,5,5])[1 + floor(random() * 12)::int] END,
    'seeded', x.at
FROM generate_series(1, $1::int) j
JOIN kpi_life l ON l.i = 1 + (j::bigint * 7919) % $2::int
CROSS JOIN LATERAL (SELECT random() AS r, random() AS r2, l.t0 + random() * ($3::timestamptz - l.t0) AS at) r
CROSS JOIN LATERAL (SELECT r.at, r.r2, CASE WHEN r.r < 0.70 THEN 'order' WHEN r.r < 0.78 THEN 'complaint'
    WHEN r.r < 0.83 THEN 'survey_response' WHEN r.r < 0.95 THEN 'note' WHEN r.r < 0.98 THEN 'contract_renewed'
    WHEN r.r < 0.99 THEN 'renewal_missed' ELSE 'contract_lost' END AS kind) x
ORDER BY l.id, x.at`, []int{1, 0, 2}},
	// A CSAT survey on deepening and an NPS survey every half year after,
	// each open for 14 days; a little over half are answered, by customers
	// who are mostly content (NPS around +30, CSAT around 4).
	{`INSERT INTO surveys (id, account_id, kind, token_hash, sent_at, due_at, answered_at, recipient)
SELECT l.id || ':survey:' || (k + 1), l.id, CASE WHEN k = 0 THEN 'csat' ELSE 'nps' END,
    sha256(convert_to(l.id || ':survey:' || (k + 1), 'UTF8')), x.sent, x.sent + interval '14 days',
    CASE WHEN x.r < 0.55 AND x.sent + x.r * interval '25 days' <= $1 THEN x.sent + x.r * interval '25 days' END,
    'contact-' || l.i || '@bench.example'
FROM kpi_life l
CROSS JOIN LATERAL generate_series(0, least(8, floor(extract(epoch FROM
    least($1, l.t_lost, l.t_closed) - l.t_deepen) / (180 * 86400))::int)) k
CROSS JOIN LATERAL (SELECT l.t_deepen + k * interval '180 days' AS sent, random() AS r) x
WHERE l.t_deepen <= $1 AND x.sent <= $1
ORDER BY l.id, k`, []int{2}},
	{`INSERT INTO survey_responses (survey_id, nps, csat, answered_at)
SELECT id, CASE WHEN kind = 'nps' THEN (ARRAY[0,3,5,6,7,7,8,8,8,9,9,9,9,10,10,10,10,10,10])[1 + floor(random() * 19)::int] END,
    CASE WHEN kind = 'csat' THEN (ARRAY[2,3,3,4,4,4,4,5,5,5,5,5])[1 + floor(random() * 12)::int] END, answered_at
FROM surveys WHERE answered_at IS NOT NULL AND account_id LIKE 'bench-%'`, nil},
	// The answer page records each answer as an event of its account too,
	// linked to the survey as InsertEvents links it.
	{`INSERT INTO account_events (account_id, external_id, kind, at, nps, csat, note, recorded_at, survey_id)
SELECT s.account_id, 'survey:' || s.id, 'survey_response', r.answered_at, r.nps, r.csat, 'seeded', r.answered_at, s.id
FROM surveys s JOIN survey_responses r ON r.survey_id = s.id
WHERE s.account_id LIKE 'bench-%'
ORDER BY s.account_id, r.answered_at`, nil},
	// Visits every 90 days while engaged: done or cancelled once old,
	// open when recent; about a third completed after their due time.
	{`INSERT INTO tasks (id, account_id, kind, assignee_id, title, due_at, state, created_at, completed_at,
    completed_by, outcome)
SELECT l.id || ':visit:' || (k + 1), l.id, CASE WHEN k % 3 = 2 THEN 'follow_up' ELSE 'visit' END, l.manager_id,
    'Visit ' || l.id, x.created + interval '2 days',
    CASE WHEN x.created + interval '9 days' > $1 THEN 'open' WHEN x.r < 0.88 THEN 'done' ELSE 'cancelled' END,
    x.created,
    CASE WHEN x.created + interval '9 days' <= $1 THEN x.created + x.r2 * x.r2 * interval '5 days' END,
    CASE WHEN x.created + interval '9 days' <= $1 AND x.r < 0.88 THEN l.manager_id ELSE '' END,
    CASE WHEN x.created + interval '9 days' <= $1 AND x.r < 0.88 THEN 'visited' ELSE '' END
FROM kpi_life l
CROSS JOIN LATERAL generate_series(0, least(11, floor(extract(epoch FROM
    least($1, l.t_lost, l.t_closed, l.t_back) - l.t_engage) / (90 * 86400))::int)) k
CROSS JOIN LATERAL (SELECT l.t_engage + k * interval '90 days' + random() * interval '3 days' AS created,
    random() AS r, random() AS r2) x
WHERE l.t_engage <= $1 AND x.created <= $1
ORDER BY l.id, k`, []int{2}},
	// Late work escalates a day after its due time: to the supervisor,
	// and a third of those on to senior management.
	{`INSERT INTO escalations (id, account_id, level, reason, recipient_id, source_task_id, created_at, acknowledged_at)
SELECT t.id || ':esc:' || lv, t.account_id, lv, 'overdue: ' || t.title,
    CASE WHEN lv = 1 THEN m.supervisor_id ELSE 'bench-senior' END, t.id,
    t.due_at + lv * interval '1 day',
    CASE WHEN random() < 0.7 AND t.due_at + lv * interval '1 day' + interval '2 days' <= $1
         THEN t.due_at + lv * interval '1 day' + random() * interval '2 days' END
FROM tasks t
JOIN managers m ON m.id = t.assignee_id
CROSS JOIN LATERAL generate_series(1, 2) lv
WHERE t.account_id LIKE 'bench-%' AND t.due_at + lv * interval '1 day' <= $1
  AND COALESCE(t.completed_at, $1) > t.due_at + lv * interval '1 day'
  AND (lv = 1 OR hashtext(t.id) % 3 = 0)`, []int{2}},
}

// SeedKPIBench fills an empty, migrated database with a synthetic record of
// accounts accounts and events business events (and an event for each
// survey answer, as the answer page records), as of now, for measuring
// the KPI queries at scale (make bench, BenchmarkKPIs), then vacuums it so
// it reads like a database in service. The rows carry the "bench-" prefix
// and are the same for the same arguments. It is meant for throw-away
// databases only: it adds managers and accounts nobody owns. 100,000
// accounts and a million events take about five minutes on two busy cores.
func (s *Store) SeedKPIBench(ctx context.Context, accounts, events int, now time.Time) error {
	if accounts < 1 || events < 0 {
		return fmt.Errorf("seed kpi bench: want at least one account and no negative event count, got %d and %d", accounts, events)
	}
	vals := []any{accounts, events, now.UTC()}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		for i, st := range seedKPISQL {
			args := make([]any, 0, len(st.args))
			for _, a := range st.args {
				args = append(args, vals[a])
			}
			if _, err := tx.ExecContext(ctx, st.sql, args...); err != nil {
				return fmt.Errorf("statement %d: %w", i+1, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("seed kpi bench (%d accounts, %d events): %w", accounts, events, err)
	}
	// A live database's autovacuum keeps the visibility map current, which
	// index-only scans rely on; a freshly loaded one has none until this.
	if _, err := s.db.ExecContext(ctx, `VACUUM (ANALYZE) accounts, stage_transitions, scores, account_events,
        surveys, survey_responses, tasks, escalations, managers`); err != nil {
		return fmt.Errorf("seed kpi bench: vacuum: %w", err)
	}
	return nil
}
