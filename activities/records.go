package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/kamflow/kamflow/internal/store"
)

// Event record statuses.
const (
	EventApplied  = "applied"
	EventRejected = "rejected"
)

// RegisterAccountInput onboards an account into the record.
type RegisterAccountInput struct {
	Profile Profile   `json:"profile"`
	At      time.Time `json:"at"`
}

// RegisterAccount writes the account's profile. The manager must exist:
// accounts without a valid manager would create tasks nobody can see.
func (a *Activities) RegisterAccount(ctx context.Context, in RegisterAccountInput) error {
	if err := in.Profile.Validate(); err != nil {
		return invalid(fmt.Errorf("account profile: %w", err))
	}
	if _, err := a.Store.Manager(ctx, in.Profile.Manager); err != nil {
		return notFoundIsInvalid(fmt.Errorf("manager %s of account %s: %w", in.Profile.Manager, in.Profile.ID, err))
	}
	p := in.Profile
	_, err := a.Store.UpsertAccount(ctx, store.Account{
		ID: p.ID, Name: p.Name, ManagerID: p.Manager, Industry: p.Industry, Region: p.Region,
		Revenue: p.Revenue, GrowthRate: p.GrowthRate, MarketShare: p.MarketShare,
		ContactName: p.ContactName, ContactEmail: p.ContactEmail, CreatedAt: in.At,
	})
	return err
}

// EventRecord is an event with the workflow's verdict on it.
type EventRecord struct {
	Event
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// RecordEventsInput is a batch of one account's events.
type RecordEventsInput struct {
	AccountID string        `json:"account_id"`
	Events    []EventRecord `json:"events"`
}

// RecordEvents writes a batch in one round trip; an external id already
// stored is skipped, so a retried batch writes nothing twice.
func (a *Activities) RecordEvents(ctx context.Context, in RecordEventsInput) error {
	rows := make([]store.Event, 0, len(in.Events))
	for _, e := range in.Events {
		rows = append(rows, store.Event{
			AccountID: in.AccountID, ExternalID: Storable(e.ExternalID), Kind: Storable(e.Kind), At: e.At, Amount: e.Amount,
			Severity: e.Severity, NPS: e.NPS, CSAT: e.CSAT, Note: Storable(e.Note), Status: e.Status, Reason: Storable(e.Reason),
		})
	}
	inserted, err := a.Store.InsertEvents(ctx, rows)
	if err != nil {
		return fmt.Errorf("record %d events of account %s: %w", len(rows), in.AccountID, err)
	}
	if a.Metrics != nil && inserted > 0 {
		for _, e := range in.Events {
			a.Metrics.EventIngested(e.Kind, e.Status)
		}
	}
	return nil
}

// TransitionInput records a stage change.
type TransitionInput struct {
	Key       string    `json:"key"`
	AccountID string    `json:"account_id"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Reason    string    `json:"reason"`
	Outcome   string    `json:"outcome,omitempty"`
	At        time.Time `json:"at"`
	// CancelTasks is open work the new stage makes moot.
	CancelTasks []string `json:"cancel_tasks,omitempty"`
}

// RecordTransition writes the transition and the account's current stage in
// one statement, keyed so that a retry changes nothing, then cancels the
// tasks the stage change made moot.
func (a *Activities) RecordTransition(ctx context.Context, in TransitionInput) error {
	created, err := a.Store.RecordTransition(ctx, store.Transition{
		Key: in.Key, AccountID: in.AccountID, From: in.From, To: in.To, Reason: in.Reason, Outcome: in.Outcome, At: in.At,
	})
	if err != nil {
		return fmt.Errorf("record transition %s: %w", in.Key, err)
	}
	if err := a.Store.CancelTasks(ctx, in.CancelTasks, in.At); err != nil {
		return err
	}
	if created && a.Metrics != nil {
		a.Metrics.StageTransition(in.From, in.To)
	}
	return nil
}

// ReassignInput hands an account to another manager.
type ReassignInput struct {
	AccountID string    `json:"account_id"`
	From      string    `json:"from"`
	Manager   string    `json:"manager"`
	At        time.Time `json:"at"`
}

// ReassignResult tells the workflow who now supervises the account's work.
type ReassignResult struct {
	Supervisor string `json:"supervisor"`
}

// Reassign moves the account and its manager's open tasks to the new manager.
func (a *Activities) Reassign(ctx context.Context, in ReassignInput) (ReassignResult, error) {
	m, err := a.Store.Manager(ctx, in.Manager)
	if err != nil {
		return ReassignResult{}, notFoundIsInvalid(fmt.Errorf("new manager %s: %w", in.Manager, err))
	}
	if err := a.Store.SetAccountManager(ctx, in.AccountID, in.From, in.Manager); err != nil {
		return ReassignResult{}, fmt.Errorf("reassign account %s to %s: %w", in.AccountID, in.Manager, err)
	}
	return ReassignResult{Supervisor: m.SupervisorID}, nil
}
