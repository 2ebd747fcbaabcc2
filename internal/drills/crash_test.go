package drills

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/workflows"
)

// importSummary is the part of `starter import --json` the drills read.
type importSummary struct {
	Rows         int    `json:"rows"`
	Started      int    `json:"started"`
	Existing     int    `json:"existing"`
	Failed       int    `json:"failed"`
	NotAttempted int    `json:"not_attempted"`
	GaveUp       string `json:"gave_up"`
}

// sentEvent is one event a drill delivered, by account.
type sentEvent struct{ account, externalID string }

// TestDrillWorkerKilledDuringImport: the only worker is SIGKILLed while
// `starter import` onboards 2,000 accounts and a stream of events (with
// repeats) flows to the accounts already onboarded; a new worker starts.
// Every account reaches its expected stage (engage for the qualified ones,
// disqualified for the rest), every event is recorded exactly once, and no
// transition, visit, task, survey or escalation exists twice: in-flight
// activities were retried after their timeout against keyed writes, and
// in-flight workflow tasks were replayed by the new worker.
func TestDrillWorkerKilledDuringImport(t *testing.T) {
	t.Parallel()
	total := drillAccounts(t, 2000)
	const managers = 20
	killAt := total / 3 // accounts recorded when the worker is killed
	// The embedded dev server on SQLite onboards a dozen accounts a second
	// on a quiet two-core machine and a third of that on a busy one: the
	// whole drill gets one deadline, generous but bounded.
	deadline := time.Now().Add(drillTimeout + time.Duration(total/4)*time.Second)
	left := func() time.Duration { return time.Until(deadline) }
	// Low accounts fail their first screen and wait an hour for the next,
	// so both paths stay cheap: four activities for them, six for the
	// qualified ones (their introduction visit included).
	d := newDeployment(t, fastPolicy(func(p *policy.Policy) { p.Identify.ScreenEvery = policy.Duration(time.Hour) }), "")
	var sw stopwatch
	var ms []store.Manager
	for i := range managers {
		ms = append(ms, store.Manager{ID: d.id(fmt.Sprintf("m%02d", i)), Name: fmt.Sprintf("经理 %02d", i), Role: activities.RoleManager})
	}
	d.addManagers(append(ms, store.Manager{ID: d.id("senior"), Name: "Senior", Role: activities.RoleSenior})...)

	rows := [][]string{{"id", "name", "manager", "revenue", "contact_name"}}
	want := map[string]string{} // account -> expected stage
	var plan []sentEvent
	for i := range total {
		id := d.id(fmt.Sprintf("a%04d", i))
		revenue, stage := "0", workflows.StageIdentify
		if i%2 == 1 {
			revenue, stage = "60000000", workflows.StageEngage
		}
		want[id] = stage
		rows = append(rows, []string{id, fmt.Sprintf("客户 %04d 有限公司", i), ms[i%managers].ID, revenue, "联系人 " + strconv.Itoa(i)})
		if i%20 == 1 {
			// An order, a note and the order again, for one account in ten
			// qualified ones.
			plan = append(plan, sentEvent{id, "o-" + id}, sentEvent{id, "n-" + id}, sentEvent{id, "o-" + id})
		}
	}
	file := writeCSV(t, d.dir, "accounts.csv", rows)

	first := d.startWorker("worker-1", nil)
	started := time.Now()
	imp := exec.Command(d.starter, "import", "--json", "--concurrency", "32", file)
	imp.Env = d.env
	var impOut, impErr strings.Builder
	imp.Stdout, imp.Stderr = &impOut, &impErr
	require.NoError(t, imp.Start())
	impDone := make(chan error, 1)
	go func() { impDone <- imp.Wait() }()

	// The event stream runs before, during and after the crash: each event
	// goes out once its account is recorded.
	c := d.client()
	streamCtx, stopStream := context.WithDeadline(context.Background(), deadline)
	defer stopStream()
	var streamWG sync.WaitGroup
	var streamErr error
	streamWG.Add(1)
	go func() {
		defer streamWG.Done()
		streamErr = stream(streamCtx, c, d, plan)
	}()

	eventually(t, left(), fmt.Sprintf("%d accounts recorded before the crash", killAt), func() (bool, string) {
		n := d.count(`SELECT count(*) FROM accounts`)
		return n >= killAt, strconv.Itoa(n)
	})
	first.kill()
	killed := time.Now()
	sw.note("import to the kill", killed.Sub(started))
	atKill := d.count(`SELECT count(*) FROM accounts`)
	d.startWorker("worker-2", nil)
	sw.note("new worker ready", time.Since(killed))

	var sum importSummary
	select {
	case err := <-impDone:
		// Exit status 1 means some rows failed or the import gave up (three
		// requests in a row unanswered while no worker ran): the summary
		// says which, and the rerun below finishes the job.
		var exit *exec.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
			t.Fatalf("import: %v\n%s\n%s", err, impOut.String(), tail(impErr.String(), 20))
		}
	case <-time.After(left()):
		t.Fatalf("the import did not finish by the drill's deadline")
	}
	require.NoError(t, json.Unmarshal([]byte(impOut.String()), &sum), "%s\n%s", impOut.String(), tail(impErr.String(), 20))
	sw.note("import done", time.Since(started))
	// An import that gave up while no worker answered is run again, as its
	// help says; it must find the accounts already started as existing.
	for rerun := 0; sum.Started+sum.Existing < total && rerun < 3; rerun++ {
		t.Logf("import %d: %+v (gave up: %s); running it again", rerun+1, sum, sum.GaveUp)
		r := runBinaryFor(t, left(), d.starter, d.env, "import", "--json", "--concurrency", "32", file)
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &sum), "%s", r)
		sw.note(fmt.Sprintf("rerun %d done", rerun+1), time.Since(started))
	}
	require.Equal(t, total, sum.Started+sum.Existing, "every row onboarded: %+v", sum)
	require.Zero(t, sum.Failed)

	streamWG.Wait()
	require.NoError(t, streamErr)
	wantEvents := map[string]bool{}
	for _, e := range plan {
		wantEvents[e.account+"/"+e.externalID] = true
	}
	engage := total / 2
	eventually(t, left(), "every account at its stage and every event recorded", func() (bool, string) {
		engaged := d.count(`SELECT count(*) FROM accounts WHERE stage = 'engage'`)
		screened := d.count(`SELECT count(DISTINCT account_id) FROM scores`)
		events := d.count(`SELECT count(*) FROM account_events`)
		return engaged == engage && screened == total && events == len(wantEvents),
			fmt.Sprintf("engage %d/%d, screened %d/%d, events %d/%d", engaged, engage, screened, total, events, len(wantEvents))
	})
	sw.note("kill to every account settled", time.Since(killed))

	got := map[string]string{}
	rs, err := d.db.Query(`SELECT id, stage FROM accounts`)
	require.NoError(t, err)
	for rs.Next() {
		var id, stage string
		require.NoError(t, rs.Scan(&id, &stage))
		got[id] = stage
	}
	require.NoError(t, rs.Err())
	require.NoError(t, rs.Close())
	require.Equal(t, want, got, "every account at its expected stage")
	assertRecordedOnce(t, d, wantEvents)
	assertNoDuplicateWork(t, d)
	// Counted per key kind: one onboarding transition per account, one
	// qualification and one introduction visit per qualified account, one
	// screen per low account; nothing else.
	require.Equal(t, total, d.count(`SELECT count(*) FROM stage_transitions WHERE to_stage = 'identify'`))
	require.Equal(t, engage, d.count(`SELECT count(*) FROM stage_transitions WHERE to_stage = 'engage'`))
	require.Equal(t, total+engage, d.count(`SELECT count(*) FROM stage_transitions`))
	require.Equal(t, engage, d.count(`SELECT count(*) FROM visits`))
	require.Equal(t, engage, d.count(`SELECT count(*) FROM tasks WHERE kind = 'visit'`))
	require.Zero(t, d.count(`SELECT count(*) FROM tasks WHERE kind <> 'visit'`))
	require.Zero(t, d.count(`SELECT count(*) FROM escalations`))
	require.Zero(t, d.count(`SELECT count(*) FROM surveys`))
	require.Equal(t, total-engage, d.count(`SELECT count(*) FROM scores WHERE account_id IN (SELECT id FROM accounts WHERE stage = 'identify')`),
		"one screen per low account, no more")

	// Temporal agrees: every account's workflow runs on.
	eventually(t, time.Minute, "visibility shows every account running", func() (bool, string) {
		running := countWorkflows(t, c, fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = 'Running'", d.queue))
		return running == total, fmt.Sprintf("running %d", running)
	})
	t.Logf("drill: %d accounts, %d events (%d sent with repeats), %d recorded at the kill, import %+v; %s",
		total, len(wantEvents), len(plan), atKill, sum, &sw)
}

// drillAccounts is how many accounts a drill onboards: def, or
// KAM_DRILL_ACCOUNTS for a quicker (or bigger) run by hand.
func drillAccounts(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv("KAM_DRILL_ACCOUNTS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "KAM_DRILL_ACCOUNTS")
	require.Positive(t, n, "KAM_DRILL_ACCOUNTS")
	return n
}

// stream sends plan in order, each event once its account is recorded in
// PostgreSQL (so its workflow exists), until all are sent or ctx ends.
// Signals go to the Temporal server, so they are accepted while no worker
// runs.
func stream(ctx context.Context, c client.Client, d *deployment, plan []sentEvent) error {
	recorded := map[string]bool{}
	for i := 0; i < len(plan); {
		e := plan[i]
		if !recorded[e.account] {
			rows, err := d.db.QueryContext(ctx, `SELECT id FROM accounts`)
			if err != nil {
				return fmt.Errorf("event stream: list accounts: %w", err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return errors.Join(err, rows.Close())
				}
				recorded[id] = true
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return fmt.Errorf("event stream: list accounts: %w", err)
			}
			if !recorded[e.account] {
				select {
				case <-ctx.Done():
					return fmt.Errorf("event stream stopped at %d of %d: %w", i, len(plan), ctx.Err())
				case <-time.After(500 * time.Millisecond):
				}
				continue
			}
		}
		kind := activities.EventOrder
		if strings.HasPrefix(e.externalID, "n-") {
			kind = activities.EventNote
		}
		ev := activities.Event{ExternalID: e.externalID, Kind: kind, At: time.Now().UTC(), Amount: 1000, Note: "drill " + e.externalID}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := accounts.SendEvent(sctx, c, e.account, ev)
		cancel()
		switch {
		case err == nil:
			i++
		case ctx.Err() != nil:
			return fmt.Errorf("event stream stopped at %d of %d: %w", i, len(plan), ctx.Err())
		default:
			time.Sleep(200 * time.Millisecond) // the server is busy: the next try decides
		}
	}
	return nil
}

// assertRecordedOnce: the account_events table holds exactly the events
// sent, each once.
func assertRecordedOnce(t *testing.T, d *deployment, want map[string]bool) {
	t.Helper()
	got := d.strings(`SELECT account_id || '/' || external_id FROM account_events`)
	seen := map[string]bool{}
	for _, k := range got {
		require.False(t, seen[k], "event %s recorded twice", k)
		require.True(t, want[k], "event %s recorded but never sent", k)
		seen[k] = true
	}
	require.Len(t, seen, len(want), "every event sent is recorded")
	require.Zero(t, d.count(`SELECT count(*) FROM account_events WHERE status <> 'applied'`), "no event rejected")
}

// assertNoDuplicateWork checks, per account, what a repeated side effect
// would have doubled under a new key: a stage entered twice in a row, two
// visits for one purpose, two surveys of a kind per stage entry, two
// escalations of one task at one level, two acknowledgements of one
// escalation.
func assertNoDuplicateWork(t *testing.T, d *deployment) {
	t.Helper()
	for what, q := range map[string]string{
		"a stage entered twice from the same stage": `SELECT account_id || ' ' || from_stage || '->' || to_stage FROM stage_transitions
			GROUP BY account_id, from_stage, to_stage HAVING count(*) > 1`,
		"two visits for one purpose": `SELECT account_id || ' ' || purpose FROM visits GROUP BY account_id, purpose HAVING count(*) > 1`,
		"two open tasks of one kind": `SELECT account_id || ' ' || kind FROM tasks WHERE state = 'open' AND kind <> 'ack'
			GROUP BY account_id, kind HAVING count(*) > 1`,
		"two surveys of a kind": `SELECT account_id || ' ' || kind FROM surveys GROUP BY account_id, kind HAVING count(*) > 1`,
		"one task escalated twice at one level": `SELECT source_task_id || ' ' || level FROM escalations WHERE source_task_id IS NOT NULL
			GROUP BY source_task_id, level HAVING count(*) > 1`,
		"an escalation acknowledged by two tasks": `SELECT e.id FROM escalations e JOIN tasks k ON k.id LIKE e.id || ':%'
			GROUP BY e.id HAVING count(*) > 1`,
		"a mail queued twice": `SELECT recipient || ' ' || subject FROM outbox WHERE channel = 'mail'
			GROUP BY recipient, subject, body HAVING count(*) > 1`,
	} {
		require.Empty(t, d.strings(q), what)
	}
}

// countWorkflows counts executions matching a visibility query.
func countWorkflows(t *testing.T, c client.Client, query string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
	require.NoError(t, err, query)
	return int(resp.GetCount())
}
