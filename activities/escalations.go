package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kamflow/kamflow/internal/store"
)

// EscalateInput raises a warning or an overdue task up the ladder.
type EscalateInput struct {
	Key         string `json:"key"`
	AccountID   string `json:"account_id"`
	AccountName string `json:"account_name"`
	// Level 1 goes to the manager's supervisor, level 2 to senior management.
	Level   int    `json:"level"`
	Reason  string `json:"reason"`
	Manager string `json:"manager"`
	// TaskID is the overdue task, empty for a churn warning.
	TaskID string    `json:"task_id,omitempty"`
	At     time.Time `json:"at"`
	AckDue time.Time `json:"ack_due"`
}

// EscalateResult names the recipient and their acknowledgement task.
type EscalateResult struct {
	EscalationID string      `json:"escalation_id"`
	Recipient    string      `json:"recipient"`
	Task         *TaskResult `json:"task,omitempty"`
}

// Escalate records the escalation, gives the recipient a task to acknowledge
// it, and queues a mail (and a webhook call when configured). Every write is
// keyed by Key, so a retry neither escalates nor notifies twice.
func (a *Activities) Escalate(ctx context.Context, in EscalateInput) (EscalateResult, error) {
	recipient, err := a.recipient(ctx, in.Level, in.Manager)
	if err != nil {
		return EscalateResult{}, err
	}
	out := EscalateResult{EscalationID: in.Key, Recipient: recipient.ID}
	var task *store.Task
	if recipient.ID != "" {
		t, err := a.Store.CreateTask(ctx, store.Task{
			ID: in.Key + ":ack", AccountID: in.AccountID, Kind: TaskAck, AssigneeID: recipient.ID,
			Title: fmt.Sprintf("Acknowledge level-%d escalation on %s: %s", in.Level, in.AccountName, in.Reason),
			DueAt: in.AckDue, State: store.TaskOpen, CreatedAt: in.At,
		})
		if err != nil {
			return out, fmt.Errorf("create acknowledgement task for %s: %w", in.Key, err)
		}
		task = &t
	}
	esc := store.Escalation{
		ID: in.Key, AccountID: in.AccountID, Level: in.Level, Reason: in.Reason, RecipientID: recipient.ID,
		SourceTaskID: in.TaskID, CreatedAt: in.At,
	}
	if task != nil {
		esc.TaskID = task.ID
	}
	created, err := a.Store.CreateEscalation(ctx, esc)
	if err != nil {
		return out, fmt.Errorf("record escalation %s: %w", in.Key, err)
	}
	if in.TaskID != "" {
		if err := a.Store.EscalateTask(ctx, in.TaskID, in.Level); err != nil {
			return out, fmt.Errorf("mark task %s escalated: %w", in.TaskID, err)
		}
	}
	if err := a.notifyEscalation(ctx, in, recipient); err != nil {
		return out, err
	}
	if task != nil {
		tr, err := a.taskResult(ctx, *task)
		if err != nil {
			return out, err
		}
		out.Task = &tr
	}
	if created && a.Metrics != nil {
		a.Metrics.Escalated(in.Level)
	}
	return out, nil
}

// recipient is the manager's supervisor for level 1 (senior management when
// there is none) and senior management for level 2. With nobody to receive
// it, the escalation is still recorded and visible to ops.
func (a *Activities) recipient(ctx context.Context, level int, managerID string) (store.Manager, error) {
	if level == 1 {
		m, err := a.Store.Manager(ctx, managerID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Manager{}, fmt.Errorf("manager %s: %w", managerID, err)
		}
		if m.SupervisorID != "" {
			sup, err := a.Store.Manager(ctx, m.SupervisorID)
			if err == nil {
				return sup, nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return store.Manager{}, fmt.Errorf("supervisor %s: %w", m.SupervisorID, err)
			}
		}
	}
	senior, err := a.Store.Senior(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return store.Manager{}, nil
	}
	if err != nil {
		return store.Manager{}, fmt.Errorf("senior management: %w", err)
	}
	return senior, nil
}

// webhookPayload is what KAM_ALERT_WEBHOOK receives for every escalation.
type webhookPayload struct {
	EscalationID string    `json:"escalation_id"`
	AccountID    string    `json:"account_id"`
	AccountName  string    `json:"account_name"`
	Level        int       `json:"level"`
	Reason       string    `json:"reason"`
	Recipient    string    `json:"recipient"`
	At           time.Time `json:"at"`
}

func (a *Activities) notifyEscalation(ctx context.Context, in EscalateInput, to store.Manager) error {
	if to.Email != "" {
		_, err := a.Store.EnqueueMail(ctx, store.Mail{
			ID: in.Key + ":mail", Channel: store.ChannelMail, Recipient: to.Email,
			Subject: fmt.Sprintf("[kamflow] level-%d escalation: %s", in.Level, in.AccountName),
			Body: fmt.Sprintf("Dear %s,\n\nAccount %s (%s) needs your attention: %s.\nPlease acknowledge it in the kamflow console.\n",
				to.Name, in.AccountName, in.AccountID, in.Reason),
			CreatedAt: in.At,
		})
		if err != nil {
			return fmt.Errorf("queue escalation mail %s: %w", in.Key, err)
		}
	}
	if !a.Webhook {
		return nil
	}
	body, err := json.Marshal(webhookPayload{
		EscalationID: in.Key, AccountID: in.AccountID, AccountName: in.AccountName, Level: in.Level,
		Reason: in.Reason, Recipient: to.ID, At: in.At,
	})
	if err != nil {
		return fmt.Errorf("encode webhook %s: %w", in.Key, err)
	}
	if _, err := a.Store.EnqueueMail(ctx, store.Mail{
		ID: in.Key + ":webhook", Channel: store.ChannelWebhook, Body: string(body), CreatedAt: in.At,
	}); err != nil {
		return fmt.Errorf("queue escalation webhook %s: %w", in.Key, err)
	}
	return nil
}
