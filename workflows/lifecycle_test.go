package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/scoring"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/internal/testenv"
	"github.com/kamflow/kamflow/workflows"
)

func TestMain(m *testing.M) { pgtest.Main(m, testenv.Stop) }

// lifecycle is one account on a real Temporal server, a real PostgreSQL and
// the real activities, with a policy compressed to seconds.
type lifecycle struct {
	t   *testing.T
	ctx context.Context
	c   client.Client
	st  *store.Store
	tq  string
}

func newLifecycle(t *testing.T, pol policy.Policy) *lifecycle {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	st, err := store.Open(ctx, pgtest.Database(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Migrate(ctx))
	for _, m := range []store.Manager{
		{ID: "sue", Name: "孙悦 Sue", Email: "sue@example.com", Role: activities.RoleSenior},
		{ID: "sam", Name: "Sam Supervisor", Email: "sam@example.com", Role: activities.RoleSupervisor},
		{ID: "mia", Name: "Mia Chen", Email: "mia@example.com", Role: activities.RoleManager, SupervisorID: "sam"},
	} {
		require.NoError(t, st.UpsertManager(ctx, m))
	}
	l := &lifecycle{t: t, ctx: ctx, c: testenv.Client(t), st: st, tq: testenv.TaskQueue(t)}
	testenv.StartWorker(t, l.c, l.tq, &activities.Activities{
		Store: st, Policy: func() policy.Policy { return pol }, PublicURL: "http://kam.test",
		SurveySecret: []byte("test-secret"), Now: time.Now,
	})
	return l
}

func (l *lifecycle) status(id string) workflows.Status {
	st, err := accounts.Status(l.ctx, l.c, id)
	require.NoError(l.t, err)
	return st
}

// waitStage polls the status query until the account is in stage and,
// when given, has an open task of each kind.
func (l *lifecycle) waitStage(id, stage string, taskKinds ...string) workflows.Status {
	l.t.Helper()
	var st workflows.Status
	require.Eventually(l.t, func() bool {
		st = l.status(id)
		for _, k := range taskKinds {
			if openTask(st, k).ID == "" {
				return false
			}
		}
		return st.Stage == stage
	}, time.Minute, 100*time.Millisecond, "account %s never reached %s with tasks %v", id, stage, taskKinds)
	return st
}

func (l *lifecycle) event(id, externalID, kind string, mod ...func(*activities.Event)) {
	e := activities.Event{ExternalID: externalID, Kind: kind, At: time.Now().UTC(), Amount: 700_000}
	for _, m := range mod {
		m(&e)
	}
	require.NoError(l.t, accounts.SendEvent(l.ctx, l.c, id, e))
}

func openTask(st workflows.Status, kind string) workflows.OpenTask {
	for _, t := range st.OpenTasks {
		if t.Kind == kind {
			return t
		}
	}
	return workflows.OpenTask{}
}

// TestAccountThroughEveryStage walks one account through all five stages
// and out, then reads the record the activities wrote.
func TestAccountThroughEveryStage(t *testing.T) {
	pol := testenv.FastPolicy()
	// Two orders make a core account here, so the walk needs no year of history.
	pol.Scoring.Tier.Core = scoring.TierRule{Points: 4, Orders: 2}
	// After a severe complaint this account scores health 50: recovered here.
	pol.Churn.RecoveredHealth = 48
	l := newLifecycle(t, pol)
	p := activities.Profile{ID: "acme-1", Name: "Acme 精密机械, Ltd.", Manager: "mia", Revenue: 80_000_000, GrowthRate: 0.2, ContactEmail: "buyer@acme.example"}

	existing, err := accounts.Onboard(l.ctx, l.c, l.tq, p)
	require.NoError(t, err)
	require.False(t, existing)
	existing, err = accounts.Onboard(l.ctx, l.c, l.tq, p)
	require.NoError(t, err)
	require.True(t, existing, "a second onboarding finds the account running")

	st := l.waitStage(p.ID, workflows.StageEngage, activities.TaskVisit)
	visit := openTask(st, activities.TaskVisit)
	l.event(p.ID, "order-1", activities.EventOrder)
	_, err = accounts.CompleteTask(l.ctx, l.c, workflows.CompleteTaskRequest{TaskID: visit.ID, Actor: "mia", ActorRole: activities.RoleManager, Outcome: "met the buyer"})
	require.NoError(t, err)
	l.waitStage(p.ID, workflows.StageDeepen)

	l.event(p.ID, "order-2", activities.EventOrder)
	l.event(p.ID, "order-2", activities.EventOrder) // a duplicate: applied once
	st = l.waitStage(p.ID, workflows.StageMaintain)
	require.Contains(t, []string{scoring.TierCore, scoring.TierVIP}, st.Tier)

	l.event(p.ID, "complaint-1", activities.EventComplaint, func(e *activities.Event) { e.Severity = 5; e.Amount = 0 })
	st = l.waitStage(p.ID, workflows.StageChurnRecovery, activities.TaskRecoveryPlan)
	require.Contains(t, st.ChurnReasons, "severe complaint")

	// Health holds above the recovered threshold for the stable period.
	l.waitStage(p.ID, workflows.StageMaintain)
	l.event(p.ID, "lost-1", activities.EventContractLost)
	l.waitStage(p.ID, workflows.StageLost)

	// The record: every transition in order, each fact once.
	var stages []string
	ts, err := l.st.Transitions(l.ctx, p.ID)
	require.NoError(t, err)
	for _, tr := range ts {
		stages = append(stages, tr.To)
	}
	require.Equal(t, []string{"identify", "engage", "deepen", "maintain", "churn_recovery", "maintain", "churn_recovery", "lost"}, stages)
	acc, err := l.st.Account(l.ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, "lost", acc.Stage)
	require.Equal(t, p.Name, acc.Name, "names are kept exactly")
	events, err := l.st.Events(l.ctx, p.ID, 100)
	require.NoError(t, err)
	require.Len(t, events, 4, "order-1, order-2 (once), complaint-1, lost-1")
	done, err := l.st.Task(l.ctx, visit.ID)
	require.NoError(t, err)
	require.Equal(t, store.TaskDone, done.State)
	require.Equal(t, "mia", done.CompletedBy)
	open, err := l.st.Tasks(l.ctx, store.TaskFilter{AccountID: p.ID, State: store.TaskOpen})
	require.NoError(t, err)
	for _, task := range open {
		require.Equal(t, activities.TaskAck, task.Kind, "only acknowledgements outlive a lost account: %+v", task)
	}
	escs, err := l.st.ListEscalations(l.ctx, store.EscalationFilter{AccountID: p.ID})
	require.NoError(t, err)
	require.NotEmpty(t, escs)
	require.Equal(t, 2, escs[0].Level, "a core account's churn warning goes to senior management")
	require.Equal(t, "sue", escs[0].RecipientID)
	score, err := l.st.LatestScore(l.ctx, p.ID)
	require.NoError(t, err)
	require.NotEmpty(t, score.Reasons, "scores carry their reasons")
	timeline, err := l.st.Timeline(l.ctx, p.ID, 500)
	require.NoError(t, err)
	kinds := map[string]bool{}
	for _, e := range timeline {
		kinds[e.Kind] = true
	}
	for _, k := range []string{"event", "stage", "score", "task", "task_done", "visit", "survey", "escalation"} {
		require.True(t, kinds[k], "timeline has %s entries: %v", k, kinds)
	}

	// New runs run their activities locally: no activity task reaches the
	// server, each result is a marker in the history (the throughput of
	// onboarding depends on it; bench/README.md).
	h := history(t, l, p.ID)
	types := map[enums.EventType]int{}
	for _, e := range h.Events {
		types[e.GetEventType()]++
	}
	require.Zero(t, types[enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED], "remote activities in a new run")
	require.Greater(t, types[enums.EVENT_TYPE_MARKER_RECORDED], 20, "local activity markers: %v", types)

	recordHistory(t, h, "golden_path")
}

// history reads an account's workflow history.
func history(t *testing.T, l *lifecycle, accountID string) *historypb.History {
	t.Helper()
	iter := l.c.GetWorkflowHistory(l.ctx, workflows.AccountWorkflowID(accountID), "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, e)
	}
	return &h
}

// recordHistory saves a workflow history for the replay test when
// KAM_RECORD_HISTORIES is set: run it after any workflow change.
func recordHistory(t *testing.T, h *historypb.History, name string) {
	if os.Getenv("KAM_RECORD_HISTORIES") == "" {
		return
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	require.NoError(t, err)
	var pretty json.RawMessage = b
	path := filepath.Join("testdata", "histories", fmt.Sprintf("%s.json", name))
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, pretty, 0o644))
	t.Logf("recorded %d events in %s", len(h.Events), path)
}
