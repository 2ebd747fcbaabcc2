package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/store"
)

// The people of the access-control matrix: a supervisor with two managers,
// a manager without a supervisor (their escalations go straight to senior
// management), senior management and ops.
const (
	sup    = "li.wei"
	mgr1   = "zhang.min"
	mgr2   = "anna.berg"
	mgr3   = "wang.fang"
	senior = "chen.jing"
	ops    = "ops.desk"
	anon   = ""
)

// TestAccessMatrix proves each role against each endpoint: who gets 200,
// 401 or 403, including a manager reading another manager's account by id,
// and that every list holds exactly what the role may see. Tasks are real:
// the account workflows create them on a real Temporal server.
func TestAccessMatrix(t *testing.T) {
	e := newEnv(t)
	e.manager(sup, "李伟 Li Wei", activities.RoleSupervisor, "")
	e.manager(mgr1, "张敏 Zhang Min", activities.RoleManager, sup)
	e.manager(mgr2, "Anna Berg", activities.RoleManager, sup)
	e.manager(mgr3, "王芳 Wang Fang", activities.RoleManager, "")
	e.manager(senior, "陈静 Chen Jing", activities.RoleSenior, "")
	e.manager(ops, "Ops Desk", activities.RoleOps, "")
	e.onboard("acct-1", "上海华东精密机械有限公司", mgr1)
	e.onboard("acct-2", "Nordic Freight AB", mgr2)
	e.onboard("acct-3", "北京云图科技", mgr3)

	started := time.Now()
	visit1 := e.waitTask("acct-1", activities.TaskVisit, mgr1)
	visit2 := e.waitTask("acct-2", activities.TaskVisit, mgr2)
	visit3 := e.waitTask("acct-3", activities.TaskVisit, mgr3)
	// The visits go overdue within seconds and escalate: acct-1's to its
	// manager's supervisor, acct-3's (no supervisor) to senior management.
	supAck := e.waitTask("acct-1", activities.TaskAck, sup)
	seniorAck := e.waitTask("acct-3", activities.TaskAck, senior)
	t.Logf("workflows created the tasks in %s", time.Since(started).Round(time.Millisecond))

	token := func(who string) string {
		if who == anon {
			return ""
		}
		return e.tokens[who]
	}
	everyone := []string{anon, mgr1, sup, senior, ops}
	type row struct {
		path string
		want map[string]int
	}
	ok := func(except map[string]int) map[string]int {
		m := map[string]int{anon: 401, mgr1: 200, sup: 200, senior: 200, ops: 200}
		for k, v := range except {
			m[k] = v
		}
		return m
	}
	rows := []row{
		{"/api/v1/me", ok(nil)},
		{"/api/v1/tasks", ok(nil)},
		{"/api/v1/tasks?state=done", ok(nil)},
		{"/api/v1/accounts", ok(nil)},
		{"/api/v1/accounts/acct-1", ok(nil)},                                 // mgr1's own, sup's team
		{"/api/v1/accounts/acct-2", ok(map[string]int{mgr1: 403})},           // another manager's account by id
		{"/api/v1/accounts/acct-3", ok(map[string]int{mgr1: 403, sup: 403})}, // outside the supervisor's team
		{"/api/v1/accounts?manager=" + mgr2, ok(map[string]int{mgr1: 403})},
		{"/api/v1/accounts?manager=" + mgr3, ok(map[string]int{mgr1: 403, sup: 403})},
		{"/api/v1/escalations", ok(map[string]int{mgr1: 403})},
		{"/api/v1/outbox", ok(map[string]int{mgr1: 403, sup: 403, senior: 403})},
		{"/api/v1/visits.ics", ok(nil)},
	}
	for _, r := range rows {
		for _, who := range everyone {
			code, body := e.call(http.MethodGet, r.path, token(who), nil)
			require.Equal(t, r.want[who], code, "GET %s as %q: %s", r.path, who, body)
			if code != http.StatusOK {
				errorBody(t, body)
			}
		}
	}

	t.Run("a wrong token is 401, a malformed header too", func(t *testing.T) {
		code, body := e.call(http.MethodGet, "/api/v1/me", "not-a-real-token", nil)
		require.Equal(t, http.StatusUnauthorized, code)
		errorBody(t, body)
		req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/me", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Basic "+e.tokens[ops])
		resp, err := e.srv.Client().Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})

	t.Run("lists hold exactly what each role may see", func(t *testing.T) {
		tasks := func(who string) []string {
			code, body := e.call(http.MethodGet, "/api/v1/tasks?limit=500", token(who), nil)
			require.Equal(t, http.StatusOK, code, string(body))
			var in struct {
				Tasks []struct {
					ID         string `json:"id"`
					AssigneeID string `json:"assignee_id"`
				} `json:"tasks"`
			}
			require.NoError(t, json.Unmarshal(body, &in))
			var owners []string
			for _, t := range in.Tasks {
				owners = append(owners, t.AssigneeID)
			}
			slices.Sort(owners)
			return slices.Compact(owners)
		}
		require.Equal(t, []string{mgr1}, tasks(mgr1))
		require.Subset(t, []string{sup, mgr1, mgr2}, tasks(sup))
		require.Contains(t, tasks(sup), sup)
		require.Contains(t, tasks(sup), mgr2)
		require.Equal(t, []string{senior}, tasks(senior), "senior management sees the escalations sent to them")
		require.Subset(t, tasks(ops), []string{mgr1, mgr2, mgr3, sup, senior})

		accountIDs := func(who string) []string {
			code, body := e.call(http.MethodGet, "/api/v1/accounts", token(who), nil)
			require.Equal(t, http.StatusOK, code, string(body))
			var l struct {
				Accounts []struct {
					ID string `json:"id"`
				} `json:"accounts"`
				Total int `json:"total"`
			}
			require.NoError(t, json.Unmarshal(body, &l))
			var ids []string
			for _, a := range l.Accounts {
				ids = append(ids, a.ID)
			}
			slices.Sort(ids)
			require.Len(t, ids, l.Total)
			return ids
		}
		require.Equal(t, []string{"acct-1"}, accountIDs(mgr1))
		require.Equal(t, []string{"acct-1", "acct-2"}, accountIDs(sup))
		require.Equal(t, []string{"acct-1", "acct-2", "acct-3"}, accountIDs(senior))
		require.Equal(t, []string{"acct-1", "acct-2", "acct-3"}, accountIDs(ops))
	})

	t.Run("the calendar feed is iCalendar with CRLF lines", func(t *testing.T) {
		code, body := e.call(http.MethodGet, "/api/v1/visits.ics", token(mgr1), nil)
		require.Equal(t, http.StatusOK, code)
		ics := string(body)
		require.True(t, strings.HasPrefix(ics, "BEGIN:VCALENDAR\r\n"), ics)
		require.Contains(t, ics, "UID:"+visit1.ID+"@kamflow\r\n")
		require.Contains(t, ics, "上海华东精密机械有限公司")
		require.NotContains(t, ics, visit2.ID, "only the caller's visits")
		require.NotContains(t, strings.ReplaceAll(ics, "\r\n", ""), "\n", "every line ends in CRLF")
	})

	complete := func(who, taskID string) (int, []byte) {
		return e.call(http.MethodPost, "/api/v1/tasks/"+url.PathEscape(taskID)+"/complete", token(who),
			map[string]string{"outcome": "visited", "notes": "由 " + who + " 完成"})
	}
	t.Run("completing: only the assignee, their supervisor or ops", func(t *testing.T) {
		for _, c := range []struct {
			who, task string
			want      int
		}{
			{anon, visit1.ID, 401},
			{mgr1, visit2.ID, 403},   // another manager's task
			{mgr1, supAck.ID, 403},   // the supervisor's acknowledgement
			{sup, visit3.ID, 403},    // outside the team
			{sup, seniorAck.ID, 403}, // senior management's
			{senior, visit3.ID, 403}, // senior reads everything but acts on their own only
			{mgr1, "acct-1:visit:999", 404},
			{mgr1, "acct-9:visit:1", 404},
		} {
			code, body := complete(c.who, c.task)
			require.Equal(t, c.want, code, "%q completes %s: %s", c.who, c.task, body)
			errorBody(t, body)
		}
		for _, c := range []struct{ who, task string }{
			{mgr1, visit1.ID}, // own
			{sup, visit2.ID},  // a team member's
			{sup, supAck.ID},  // own acknowledgement
			{senior, seniorAck.ID},
			{ops, visit3.ID}, // anyone's
		} {
			code, body := complete(c.who, c.task)
			require.Equal(t, http.StatusOK, code, "%q completes %s: %s", c.who, c.task, body)
			var res struct {
				TaskID string `json:"task_id"`
				Task   struct {
					State       string `json:"state"`
					CompletedBy string `json:"completed_by"`
				} `json:"task"`
			}
			require.NoError(t, json.Unmarshal(body, &res))
			require.Equal(t, c.task, res.TaskID)
			require.Equal(t, store.TaskDone, res.Task.State, "the answer comes after the workflow recorded it")
			require.Equal(t, c.who, res.Task.CompletedBy)
		}
		code, body := complete(mgr1, visit1.ID)
		require.Equal(t, http.StatusConflict, code, "completing twice: %s", body)
		errorBody(t, body)
	})

	t.Run("a completed task leaves the inbox and shows on the timeline", func(t *testing.T) {
		code, body := e.call(http.MethodGet, "/api/v1/tasks", token(mgr1), nil)
		require.Equal(t, http.StatusOK, code)
		require.NotContains(t, string(body), `"id":"`+visit1.ID+`"`)
		code, body = e.call(http.MethodGet, "/api/v1/accounts/acct-1", token(mgr1), nil)
		require.Equal(t, http.StatusOK, code)
		var d struct {
			Account struct {
				ID string `json:"id"`
			} `json:"account"`
			Score *struct {
				Reasons []struct{ Field, Text string }
			} `json:"score"`
			Timeline []struct {
				Type  string `json:"type"`
				Ref   string `json:"ref"`
				Title string `json:"title"`
			} `json:"timeline"`
		}
		require.NoError(t, json.Unmarshal(body, &d))
		require.Equal(t, "acct-1", d.Account.ID)
		require.NotNil(t, d.Score, "screening scored the account")
		require.NotEmpty(t, d.Score.Reasons)
		require.True(t, slices.ContainsFunc(d.Timeline, func(x struct {
			Type  string `json:"type"`
			Ref   string `json:"ref"`
			Title string `json:"title"`
		}) bool {
			return x.Type == "task_done" && x.Ref == visit1.ID
		}), "timeline: %s", body)
	})

	t.Run("the console follows the same rules", func(t *testing.T) {
		c := e.browserless()
		signIn(t, e, c, e.tokens[mgr1])
		for path, want := range map[string]int{
			"/inbox": 200, "/accounts": 200, "/accounts/acct-1": 200, "/accounts/acct-2": 403,
			"/escalations": 403, "/outbox": 403, "/accounts/no-such": 404, "/accounts/bad%20id": 400,
		} {
			resp, err := c.Get(e.srv.URL + path)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, want, resp.StatusCode, path)
		}
		anonClient := e.browserless()
		resp, err := anonClient.Get(e.srv.URL + "/inbox")
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/signin?next=%2Finbox", resp.Header.Get("Location"))
	})
}
