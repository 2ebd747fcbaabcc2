package main

import (
	"encoding/json"
	"fmt"
)

// sizes is how much work each step does. The full sizes are the issue's
// where it names them (10,000 accounts imported, 50,000 events over 1,000
// accounts, 1,000 reviews, 10,000 open tasks, 5,000 timeline entries,
// 100,000 accounts and 1,000,000 events for the KPIs); the ceilings are
// sized to run long enough for a stable rate and no longer, so that the
// whole run stays under 15 minutes on a two-core machine.
type sizes struct {
	// Concurrency is N: concurrent clients of B0, B1 and S0, and the
	// starter's --concurrency.
	Concurrency int `json:"concurrency"`
	// ImportActivities is how many activities an onboarding runs until its
	// first score row exists (workflows/account.go: LoadPolicy,
	// RegisterAccount, RecordTransition to identify, ScoreAccount): B1's
	// no-op activities.
	ImportActivities int `json:"import_activities"`
	B0               int `json:"b0_workflows"`
	// M0Workflows is how many waiting workflows M0 caches per repetition.
	M0Workflows    int `json:"m0_workflows"`
	B1             int `json:"b1_workflows"`
	ImportAccounts int `json:"import_accounts"`
	// PGImportAccounts is E-import-pg's size: the import again with Temporal
	// on PostgreSQL, smaller than ImportAccounts to fit the time budget.
	PGImportAccounts int `json:"pg_import_accounts"`
	// Managers own the imported accounts; visits are booked per manager,
	// so a realistic portfolio per manager keeps calendars realistic.
	Managers         int `json:"managers"`
	S0Accounts       int `json:"s0_accounts"`
	S0PerAccount     int `json:"s0_signals_per_account"`
	EventAccounts    int `json:"event_accounts"`
	EventsPerAccount int `json:"events_per_account"`
	// SingleEventsPerAccount is E-events@1's size: sent one per signal, so
	// kept small enough for the time budget.
	SingleEventsPerAccount int `json:"single_events_per_account"`
	D0Rows                 int `json:"d0_rows"`
	EDBRows                int `json:"edb_rows"`
	ReviewAccounts         int `json:"review_accounts"`
	APITasks               int `json:"api_open_tasks"`
	APITimeline            int `json:"api_timeline_entries"`
	APIRequests            int `json:"api_requests"`
	KPIAccounts            int `json:"kpi_accounts"`
	KPIEvents              int `json:"kpi_events"`
	KPIRequests            int `json:"kpi_requests"`
}

func sizesFor(name string) sizes {
	if name == "tiny" {
		return sizes{
			Concurrency: 4, ImportActivities: 4, B0: 20, M0Workflows: 200, B1: 20, ImportAccounts: 20, PGImportAccounts: 20, Managers: 2,
			S0Accounts: 4, S0PerAccount: 5, EventAccounts: 4, EventsPerAccount: 5, SingleEventsPerAccount: 2,
			D0Rows: 200, EDBRows: 200, ReviewAccounts: 4,
			APITasks: 50, APITimeline: 50, APIRequests: 10,
			KPIAccounts: 100, KPIEvents: 1000, KPIRequests: 3,
		}
	}
	return sizes{
		Concurrency: 32, ImportActivities: 4, B0: 200, M0Workflows: 200, B1: 100, ImportAccounts: 10000, PGImportAccounts: 1000, Managers: 100,
		S0Accounts: 50, S0PerAccount: 20, EventAccounts: 1000, EventsPerAccount: 50, SingleEventsPerAccount: 5,
		D0Rows: 20000, EDBRows: 5000, ReviewAccounts: 1000,
		APITasks: 10000, APITimeline: 5000, APIRequests: 100,
		KPIAccounts: 100000, KPIEvents: 1000000, KPIRequests: 10,
	}
}

// override sets sizes by their JSON names, for tuning runs that vary one
// thing.
func (s *sizes) override(set map[string]int) error {
	if len(set) == 0 {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("sizes: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("sizes: %w", err)
	}
	for k, v := range set {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("-set %s: no such size", k)
		}
		m[k] = v
	}
	if b, err = json.Marshal(m); err != nil {
		return fmt.Errorf("sizes: %w", err)
	}
	return json.Unmarshal(b, s)
}
