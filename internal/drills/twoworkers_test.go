package drills

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/workflows"
)

// TestDrillTwoWorkers runs two worker processes on one task queue and one
// database. Each visit falls overdue and escalates twice, and the alert
// webhook of every escalation is delivered by whichever dispatcher leases
// it; then every other account's visit is completed through both workers'
// APIs at the same moment. Exactly one completion wins each race, each
// escalation, acknowledgement task, survey and mail exists once, each
// webhook arrives once, and both workers did part of the work.
func TestDrillTwoWorkers(t *testing.T) {
	t.Parallel()
	const accountsN = 40
	var (
		hooksMu sync.Mutex
		hooks   = map[string]int{} // Idempotency-Key -> deliveries
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooksMu.Lock()
		hooks[r.Header.Get("Idempotency-Key")]++
		hooksMu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	d := newDeployment(t, fastPolicy(func(p *policy.Policy) {
		p.Tasks.Due[policy.TaskVisit] = policy.Duration(2 * time.Second)
		p.Tasks.EscalateAfter = policy.Duration(2 * time.Second)
	}), "")
	var sw stopwatch
	sup, senior, ops := d.id("sup"), d.id("senior"), d.id("ops")
	ms := []store.Manager{
		{ID: senior, Name: "Senior", Email: "senior@example.com", Role: activities.RoleSenior},
		{ID: ops, Name: "Ops", Email: "ops@example.com", Role: activities.RoleOps},
		{ID: sup, Name: "Sup", Email: "sup@example.com", Role: activities.RoleSupervisor},
	}
	for i := range 4 {
		ms = append(ms, store.Manager{ID: d.id(fmt.Sprintf("m%d", i)), Name: fmt.Sprintf("M%d", i),
			Email: fmt.Sprintf("m%d@example.com", i), Role: activities.RoleManager, SupervisorID: sup})
	}
	tokens := d.addManagers(ms...)
	env := []string{"KAM_ALERT_WEBHOOK=" + hook.URL + "/alerts"}
	workers := []*process{d.startWorker("worker-1", env), d.startWorker("worker-2", env)}

	rows := [][]string{{"id", "name", "manager", "revenue", "contact_email"}}
	var ids []string
	for i := range accountsN {
		ids = append(ids, d.id(fmt.Sprintf("tw-%02d", i)))
		rows = append(rows, []string{ids[i], fmt.Sprintf("客户 %d", i), d.id(fmt.Sprintf("m%d", i%4)), "60000000",
			fmt.Sprintf("buyer%d@example.com", i)})
	}
	started := time.Now()
	r := d.runStarter("import", "--concurrency", "8", writeCSV(t, d.dir, "accounts.csv", rows))
	require.Equal(t, 0, r.code, "%s", r)

	// Every introduction visit falls overdue: level 1 to the supervisor,
	// level 2 to senior management, each with a mail and a webhook.
	eventually(t, drillTimeout, "every visit escalated twice and every webhook delivered", func() (bool, string) {
		esc := d.count(`SELECT count(*) FROM escalations`)
		hooksMu.Lock()
		delivered := len(hooks)
		hooksMu.Unlock()
		return esc == 2*accountsN && delivered == 2*accountsN, fmt.Sprintf("escalations %d, webhooks %d (want %d)", esc, delivered, 2*accountsN)
	})
	sw.note("import to every escalation delivered", time.Since(started))

	// Half the accounts: an order, then the same visit completed through
	// both workers at once.
	racing := ids[:accountsN/2]
	events := [][]string{{"account", "external_id", "kind", "at", "amount"}}
	for _, id := range racing {
		events = append(events, []string{id, "first-order-" + id, "order", time.Now().UTC().Format(time.RFC3339), "20000"})
	}
	r = d.runStarter("events", writeCSV(t, d.dir, "events.csv", events))
	require.Equal(t, 0, r.code, "%s", r)
	for _, id := range racing {
		task := d.strings(`SELECT id FROM tasks WHERE account_id = $1 AND kind = 'visit'`, id)
		require.Len(t, task, 1, id)
		codes := make([]int, len(workers))
		var wg sync.WaitGroup
		for i, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = completeTask(t, w.url(), tokens[ops], task[0])
			}()
		}
		wg.Wait()
		ok, conflict := 0, 0
		for _, c := range codes {
			switch c {
			case http.StatusOK:
				ok++
			case http.StatusConflict:
				conflict++
			}
		}
		require.Equal(t, [2]int{1, 1}, [2]int{ok, conflict}, "%s: one completion wins, the other is told it is done (%v)", task[0], codes)
	}
	eventually(t, time.Minute, "completed accounts deepened with one survey each", func() (bool, string) {
		deep := d.count(`SELECT count(*) FROM accounts WHERE stage = 'deepen'`)
		surveys := d.count(`SELECT count(*) FROM surveys WHERE kind = 'csat'`)
		return deep == len(racing) && surveys == len(racing), fmt.Sprintf("deepen %d, csat surveys %d", deep, surveys)
	})
	sw.note("import to settled", time.Since(started))

	require.Equal(t, 2*accountsN, d.count(`SELECT count(*) FROM tasks WHERE kind = 'ack'`), "one acknowledgement per escalation")
	require.Equal(t, len(racing), d.count(`SELECT count(*) FROM tasks WHERE kind = 'visit' AND state = 'done'`))
	require.Equal(t, accountsN, d.count(`SELECT count(*) FROM visits`))
	require.Equal(t, 2*accountsN, d.count(`SELECT count(*) FROM outbox WHERE channel = 'webhook'`))
	assertNoDuplicateWork(t, d)
	for i, id := range ids {
		assertChain(t, d.db, id)
		want := workflows.StageEngage
		if i < len(racing) {
			want = workflows.StageDeepen
		}
		require.Equal(t, want, stageOf(t, d.db, id), id)
	}
	hooksMu.Lock()
	for key, n := range hooks {
		require.Equal(t, 1, n, "webhook %s delivered %d times", key, n)
	}
	hooksMu.Unlock()
	var done []string
	for _, w := range workers {
		n := activitiesRun(t, w)
		require.Positive(t, n, "%s ran activities too", w.name)
		done = append(done, fmt.Sprintf("%s %d", w.name, n))
	}
	t.Logf("drill: %d accounts on two workers, %d races, activities run: %s; %s", accountsN, len(racing), strings.Join(done, ", "), &sw)
}

// completeTask completes a task through a worker's API and returns the status.
func completeTask(t *testing.T, base, token, task string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/tasks/"+task+"/complete", strings.NewReader(`{"outcome":"visited, all well"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp.StatusCode
}

// activitiesRun reads from a worker's /metrics how many activities it ran.
func activitiesRun(t *testing.T, w *process) int {
	t.Helper()
	return int(sumMetric(t, w, "", "temporal_local_activity_execution_latency_seconds_count", "temporal_activity_execution_latency_seconds_count"))
}

// sumMetric adds up the samples of the named metrics in a worker's
// /metrics, keeping only the lines that contain match (a label, or "").
func sumMetric(t *testing.T, w *process, match string, names ...string) float64 {
	t.Helper()
	code, body := get(t, w.url()+"/metrics", "")
	require.Equal(t, http.StatusOK, code)
	total := 0.0
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		name, _, _ := strings.Cut(line, "{")
		if !slices.Contains(names, name) || !strings.Contains(line, match) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		require.NoError(t, err, line)
		total += v
	}
	return total
}
