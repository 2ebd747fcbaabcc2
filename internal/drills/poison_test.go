package drills

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/store"
)

// TestPoisonTextNeverBlocksAnAccount sends what JSON allows and PostgreSQL
// text does not hold: a NUL character, in an event's note and in a task
// completion's notes. The event is recorded as rejected with its reason and
// the account's next event is applied; the completion is refused with a 400
// and the task can still be completed. Neither becomes a write retried
// forever, which would block the account.
func TestPoisonTextNeverBlocksAnAccount(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, fastPolicy(), "")
	m := d.id("m1")
	tokens := d.addManagers(store.Manager{ID: m, Name: "Mia", Email: "mia@example.com", Role: activities.RoleManager})
	w := d.startWorker("worker", nil)
	account := d.id("poison")
	r := d.runStarter("start", "--id", account, "--name", "Poison Ltd", "--manager", m, "--revenue", "60000000")
	require.Equal(t, 0, r.code, "%s", r)

	c := d.client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, accounts.SendEvent(ctx, c, account, activities.Event{ExternalID: "nul-1", Kind: activities.EventNote, At: time.Now().UTC(), Note: "before\x00after"}))
	require.NoError(t, accounts.SendEvent(ctx, c, account, activities.Event{ExternalID: "ok-1", Kind: activities.EventOrder, At: time.Now().UTC(), Amount: 10}))
	eventually(t, time.Minute, "both events recorded", func() (bool, string) {
		rows := d.strings(`SELECT external_id || ' ' || status || ' ' || reason FROM account_events ORDER BY external_id`)
		return len(rows) == 2, strings.Join(rows, "; ")
	})
	require.Equal(t, []string{"rejected"}, d.strings(`SELECT status FROM account_events WHERE external_id = 'nul-1'`))
	require.Equal(t, []string{"applied"}, d.strings(`SELECT status FROM account_events WHERE external_id = 'ok-1'`))

	var task []string
	eventually(t, time.Minute, "the introduction visit is booked", func() (bool, string) {
		task = d.strings(`SELECT id FROM tasks WHERE account_id = $1 AND kind = 'visit'`, account)
		return len(task) == 1, fmt.Sprint(task)
	})
	complete := func(body string) int {
		req, err := http.NewRequest(http.MethodPost, w.url()+"/api/v1/tasks/"+task[0]+"/complete", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tokens[m])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		return resp.StatusCode
	}
	require.Equal(t, http.StatusBadRequest, complete(`{"outcome":"visited","notes":"x\u0000y"}`))
	require.Equal(t, http.StatusOK, complete(`{"outcome":"visited","notes":"all well"}`), "the task is still open and completes")
}
