package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/workflows"
)

func (a *app) tasksCommand() *cobra.Command {
	var manager, state string
	cmd := &cobra.Command{
		Use:   "tasks --manager M [--state open|done]",
		Short: "show a manager's task inbox, or complete a task",
		Long: `tasks lists a manager's tasks (visits to complete, recovery plans to write,
escalations to acknowledge, follow-ups), soonest due first: the same inbox
the console shows. ` + "`tasks complete`" + ` completes one.`,
		Example: `  starter tasks --manager m.chen
  starter tasks --manager m.chen --state done --json
  starter tasks complete acme-1:visit:3 --outcome "met the buyer" --as m.chen`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "manager"); err != nil {
				return err
			}
			if err := activities.ValidID(manager); err != nil {
				return usageError{err: fmt.Errorf("--manager: %w", err)}
			}
			if state != store.TaskOpen && state != store.TaskDone && state != store.TaskCancelled {
				return usagef("--state %q: want open, done or cancelled", state)
			}
			return a.tasks(cmd.Context(), manager, state)
		},
	}
	cmd.Flags().StringVar(&manager, "manager", "", "whose inbox (required)")
	cmd.Flags().StringVar(&state, "state", store.TaskOpen, "open, done or cancelled")
	cmd.AddCommand(a.completeCommand())
	return cmd
}

func (a *app) tasks(ctx context.Context, manager, state string) error {
	st, err := a.db(ctx)
	if err != nil {
		return err
	}
	if _, err := st.Manager(ctx, manager); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("unknown manager %s (see `starter managers list`)", manager)
	} else if err != nil {
		return err
	}
	ts, err := st.Tasks(ctx, store.TaskFilter{Assignees: []string{manager}, State: state})
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(ts)
	}
	if len(ts) == 0 {
		a.printf("no %s tasks for %s\n", state, manager)
		return nil
	}
	var tb table
	if state == store.TaskOpen {
		tb.add("ID", "KIND", "ACCOUNT", "DUE", "ESCALATION", "TITLE")
		for _, t := range ts {
			tb.add(t.ID, t.Kind, t.AccountID, when(t.DueAt), t.EscalationLevel, t.Title)
		}
	} else {
		tb.add("ID", "KIND", "ACCOUNT", "COMPLETED", "BY", "OUTCOME")
		for _, t := range ts {
			tb.add(t.ID, t.Kind, t.AccountID, whenPtr(t.CompletedAt), t.CompletedBy, t.Outcome)
		}
	}
	return tb.write(a.stdout, "")
}

func (a *app) completeCommand() *cobra.Command {
	var req workflows.CompleteTaskRequest
	cmd := &cobra.Command{
		Use:   "complete TASK_ID --outcome OUTCOME [--notes NOTES] [--as MANAGER]",
		Short: "complete a task",
		Long: `complete completes a task through its account's workflow, which checks that
the task is open and that the person may complete it. With --as the task is
completed as that manager, with their role; without it, as ops.`,
		Example: `  starter tasks complete acme-1:visit:3 --outcome "met the buyer" --notes "wants a quote" --as m.chen
  starter tasks complete acme-1:ack:7 --outcome acknowledged`,
		Args: exactArgs("TASK_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.TaskID = args[0]
			if _, err := accounts.TaskAccount(req.TaskID); err != nil {
				return usageError{err: err}
			}
			if err := requireFlags(cmd, "outcome"); err != nil {
				return err
			}
			return a.complete(cmd.Context(), req)
		},
	}
	cmd.Flags().StringVar(&req.Outcome, "outcome", "", "what happened (required)")
	cmd.Flags().StringVar(&req.Notes, "notes", "", "anything worth keeping")
	cmd.Flags().StringVar(&req.Actor, "as", "", "complete as this manager (default: ops)")
	return cmd
}

func (a *app) complete(ctx context.Context, req workflows.CompleteTaskRequest) error {
	if req.Actor == "" {
		req.Actor, req.ActorRole = opsActor(), activities.RoleOps
	} else {
		st, err := a.db(ctx)
		if err != nil {
			return err
		}
		m, err := st.Manager(ctx, req.Actor)
		if errors.Is(err, store.ErrNotFound) {
			return usagef("--as %s: unknown manager (see `starter managers list`)", req.Actor)
		} else if err != nil {
			return err
		}
		req.ActorRole = m.Role
	}
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	res, err := accounts.CompleteTask(ctx, c, req)
	if err != nil {
		return rejectedError(err)
	}
	if a.json {
		return a.printJSON(res)
	}
	a.printf("completed task %s at %s\n", res.TaskID, when(res.CompletedAt))
	return nil
}
