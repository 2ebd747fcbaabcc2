package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/scoring"
	"github.com/kamflow/kamflow/workflows"
)

// Stages lists every stage an account can be in, the end stages last, in
// the order lists and counts show them.
var Stages = []string{
	workflows.StageIdentify, workflows.StageEngage, workflows.StageDeepen, workflows.StageMaintain,
	workflows.StageChurnRecovery, workflows.StageLost, workflows.StageDisqualified, workflows.StageClosed,
}

// Tiers lists the tiers lowest first.
var Tiers = scoring.Tiers()

// Filter narrows List and Counts. Empty fields match everything.
type Filter struct {
	Stage   string `json:"stage,omitempty"`
	Tier    string `json:"tier,omitempty"`
	Manager string `json:"manager,omitempty"`
	// TaskQueue keeps to the accounts of one deployment (or one test) when
	// several share a namespace.
	TaskQueue string `json:"task_queue,omitempty"`
}

// Validate checks every value against what it may be, so nothing a user
// typed reaches a visibility query unchecked.
func (f Filter) Validate() error {
	var errs []string
	if f.Stage != "" && !slices.Contains(Stages, f.Stage) {
		errs = append(errs, fmt.Sprintf("stage %q: want one of %s", f.Stage, strings.Join(Stages, ", ")))
	}
	if f.Tier != "" && !slices.Contains(Tiers, f.Tier) {
		errs = append(errs, fmt.Sprintf("tier %q: want one of %s", f.Tier, strings.Join(Tiers, ", ")))
	}
	if f.Manager != "" {
		if err := activities.ValidID(f.Manager); err != nil {
			errs = append(errs, "manager: "+err.Error())
		}
	}
	if strings.ContainsAny(f.TaskQueue, "\x00\n\r") {
		errs = append(errs, fmt.Sprintf("task queue %q: control characters are not allowed", f.TaskQueue))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Query is the visibility query of the filter. Runs that continued as new,
// failed or were terminated are left out: the account is its running or
// completed run, so each account is counted once.
func (f Filter) Query() (string, error) {
	if err := f.Validate(); err != nil {
		return "", err
	}
	q := []string{
		"WorkflowType = " + quote(workflows.WorkflowType),
		"(ExecutionStatus = 'Running' OR ExecutionStatus = 'Completed')",
	}
	add := func(attr, v string) {
		if v != "" {
			q = append(q, attr+" = "+quote(v))
		}
	}
	add("TaskQueue", f.TaskQueue)
	add(workflows.AccountStageKey.GetName(), f.Stage)
	add(workflows.AccountTierKey.GetName(), f.Tier)
	add(workflows.AccountManagerKey.GetName(), f.Manager)
	return strings.Join(q, " AND "), nil
}

// quote writes a visibility query string literal; backslashes and quotes
// are escaped, so no value can end the literal early.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Summary is one account as visibility shows it: what `starter
// list` and the console print without asking each workflow.
type Summary struct {
	AccountID string    `json:"account_id"`
	Name      string    `json:"name"`
	Stage     string    `json:"stage"`
	Tier      string    `json:"tier"`
	Manager   string    `json:"manager"`
	Health    float64   `json:"health"`
	ChurnRisk float64   `json:"churn_risk"`
	Running   bool      `json:"running"`
	StartedAt time.Time `json:"started_at"`
}

// List returns the accounts matching f, ordered by account id; dc is the
// client's data converter (nil for the default), which decodes the names.
// Visibility
// lags the workflows by a moment, so an account started just now may be
// missing or show its previous stage.
func List(ctx context.Context, c client.Client, dc converter.DataConverter, f Filter) ([]Summary, error) {
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	q, err := f.Query()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []Summary
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			PageSize: 1000, NextPageToken: token, Query: q,
		})
		if err != nil {
			return nil, fmt.Errorf("list accounts (%s): %w", q, err)
		}
		for _, info := range resp.GetExecutions() {
			id, ok := strings.CutPrefix(info.GetExecution().GetWorkflowId(), workflows.AccountWorkflowID(""))
			if !ok || seen[id] {
				continue
			}
			seen[id] = true
			s := Summary{
				AccountID: id,
				Running:   info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
				StartedAt: info.GetStartTime().AsTime(),
			}
			// The memo goes through the client's converter (and so its
			// encryption codec); search attributes never do.
			if p := info.GetMemo().GetFields()[memoName]; p != nil {
				_ = dc.FromPayload(p, &s.Name) // blank on error, as in decode
			}
			attrs := info.GetSearchAttributes().GetIndexedFields()
			decode(attrs[workflows.AccountStageKey.GetName()], &s.Stage)
			decode(attrs[workflows.AccountTierKey.GetName()], &s.Tier)
			decode(attrs[workflows.AccountManagerKey.GetName()], &s.Manager)
			decode(attrs[workflows.HealthScoreKey.GetName()], &s.Health)
			decode(attrs[workflows.ChurnRiskKey.GetName()], &s.ChurnRisk)
			out = append(out, s)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.AccountID, b.AccountID) })
	return out, nil
}

// decode reads a memo or search attribute value; a missing or odd value
// leaves v as it was: a summary with a blank field beats no list at all.
func decode(p *commonpb.Payload, v any) {
	if p == nil {
		return
	}
	_ = converter.GetDefaultDataConverter().FromPayload(p, v) // see above: blank on error
}

// Counts returns how many accounts matching f are in each stage and tier;
// every known stage and tier is present, zero or not. It asks visibility
// with GROUP BY where the server supports it on custom search attributes
// (Elasticsearch) and with one count per value where it does not (the SQL
// stores of the dev server and self-hosted clusters).
func Counts(ctx context.Context, c client.Client, f Filter) (byStage, byTier map[string]int, err error) {
	q, err := f.Query()
	if err != nil {
		return nil, nil, err
	}
	if byStage, err = countBy(ctx, c, q, workflows.AccountStageKey.GetName(), Stages); err != nil {
		return nil, nil, err
	}
	if byTier, err = countBy(ctx, c, q, workflows.AccountTierKey.GetName(), Tiers); err != nil {
		return nil, nil, err
	}
	return byStage, byTier, nil
}

func countBy(ctx context.Context, c client.Client, q, attr string, values []string) (map[string]int, error) {
	out := make(map[string]int, len(values))
	for _, v := range values {
		out[v] = 0
	}
	resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q + " GROUP BY " + attr})
	var invalid *serviceerror.InvalidArgument
	switch {
	case err == nil:
		for _, g := range resp.GetGroups() {
			var v string
			if vals := g.GetGroupValues(); len(vals) == 1 {
				decode(vals[0], &v)
			}
			if _, known := out[v]; known {
				out[v] += int(g.GetCount())
			}
		}
		return out, nil
	case !errors.As(err, &invalid):
		return nil, fmt.Errorf("count accounts by %s: %w", attr, err)
	}
	for _, v := range values {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q + " AND " + attr + " = " + quote(v)})
		if err != nil {
			return nil, fmt.Errorf("count accounts with %s %s: %w", attr, v, err)
		}
		out[v] = int(resp.GetCount())
	}
	return out, nil
}
