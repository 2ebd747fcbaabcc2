package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestManagers(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)

	// Upserting the same profile again changes nothing; a new profile is
	// taken, and the token survives a re-import.
	require.NoError(t, s.SetManagerToken(ctx, "m1", []byte("hash-1")))
	before, err := s.Manager(ctx, "m1")
	require.NoError(t, err)
	require.NoError(t, s.UpsertManager(ctx, Manager{ID: "m1", Name: "Manager One", Role: "manager", SupervisorID: "sup"}))
	after, err := s.Manager(ctx, "m1")
	require.NoError(t, err)
	require.Equal(t, before, after)
	require.NoError(t, s.UpsertManager(ctx, Manager{ID: "m1", Name: "M. One", Email: "one@example.com", Role: "manager", SupervisorID: "sup"}))
	after, err = s.Manager(ctx, "m1")
	require.NoError(t, err)
	require.Equal(t, "M. One", after.Name)
	require.Equal(t, []byte("hash-1"), after.TokenHash)

	byToken, err := s.ManagerByTokenHash(ctx, []byte("hash-1"))
	require.NoError(t, err)
	require.Equal(t, "m1", byToken.ID)
	require.NoError(t, s.SetManagerToken(ctx, "m1", nil), "revoke")
	_, err = s.ManagerByTokenHash(ctx, []byte("hash-1"))
	require.ErrorIs(t, err, ErrNotFound)

	all, err := s.Managers(ctx)
	require.NoError(t, err)
	require.Len(t, all, 4)
	require.Equal(t, "m1", all[0].ID)

	require.NoError(t, s.UpsertManager(ctx, Manager{ID: "aaa-senior", Role: "senior"}))
	senior, err := s.Senior(ctx)
	require.NoError(t, err)
	require.Equal(t, "aaa-senior", senior.ID, "the first senior by id")

	for _, tc := range []struct {
		supervisor string
		want       []string
	}{
		{"sen", []string{"m1", "m2", "sup"}},
		{"sup", []string{"m1", "m2"}},
		{"m1", []string{}},
	} {
		team, err := s.Team(ctx, tc.supervisor)
		require.NoError(t, err)
		require.Equal(t, tc.want, team, tc.supervisor)
	}

	err = s.UpsertManager(ctx, Manager{ID: "bad id!", Role: "manager"})
	require.Error(t, err, "ids are checked")
	err = s.UpsertManager(ctx, Manager{ID: "x", Role: "boss"})
	require.Error(t, err, "roles are checked")
}

func TestUpsertAccount(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)

	a := Account{ID: "beta-2", Name: "Beta", ManagerID: "m2", Industry: "retail", Revenue: 250000.5, CreatedAt: t0}
	created, err := s.UpsertAccount(ctx, a)
	require.NoError(t, err)
	require.True(t, created)
	first, err := s.Account(ctx, "beta-2")
	require.NoError(t, err)
	require.Equal(t, "identify", first.Stage)
	require.Equal(t, "prospect", first.Tier)
	require.Equal(t, 250000.5, first.Revenue)
	require.True(t, first.CreatedAt.Equal(t0))

	created, err = s.UpsertAccount(ctx, a)
	require.NoError(t, err)
	require.False(t, created)
	again, err := s.Account(ctx, "beta-2")
	require.NoError(t, err)
	require.Equal(t, first, again, "an identical re-import changes nothing, not even updated_at")

	// The workflow's fields survive a re-import with a new profile.
	_, err = s.RecordTransition(ctx, Transition{Key: "beta-2:stage:1", AccountID: "beta-2", From: "identify", To: "engage", At: t0})
	require.NoError(t, err)
	require.NoError(t, s.InsertScore(ctx, Score{Key: "beta-2:score:1", AccountID: "beta-2", At: t0, Tier: "core", Health: 70}))
	a.Name, a.Stage, a.Tier, a.ManagerID = "Beta Ltd", "deepen", "vip", "m1"
	created, err = s.UpsertAccount(ctx, a)
	require.NoError(t, err)
	require.False(t, created)
	got, err := s.Account(ctx, "beta-2")
	require.NoError(t, err)
	require.Equal(t, "Beta Ltd", got.Name)
	require.Equal(t, "engage", got.Stage)
	require.Equal(t, "core", got.Tier)
	require.Equal(t, 70.0, got.Health)
	require.Equal(t, "m2", got.ManagerID, "the manager changes through SetAccountManager only")
}

func TestListAndCountAccounts(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	for _, a := range []Account{
		{ID: "b-1", Name: "Bravo", ManagerID: "m1", Stage: "engage", Tier: "core"},
		{ID: "c-1", Name: "Charlie 100%", ManagerID: "m2", Stage: "engage", Tier: "vip"},
		{ID: "d-1", Name: "Delta_x", ManagerID: "m2", Stage: "maintain", Tier: "core"},
	} {
		_, err := s.UpsertAccount(ctx, a)
		require.NoError(t, err)
	}
	for _, tc := range []struct {
		name      string
		f         AccountFilter
		want      []string
		wantStage map[string]int
		wantTier  map[string]int
	}{
		{"all by name", AccountFilter{}, []string{"acme-1", "b-1", "c-1", "d-1"},
			map[string]int{"identify": 1, "engage": 2, "maintain": 1}, map[string]int{"prospect": 1, "core": 2, "vip": 1}},
		{"stage", AccountFilter{Stage: "engage"}, []string{"b-1", "c-1"},
			map[string]int{"engage": 2}, map[string]int{"core": 1, "vip": 1}},
		{"tier and manager", AccountFilter{Tier: "core", Manager: "m2"}, []string{"d-1"},
			map[string]int{"maintain": 1}, map[string]int{"core": 1}},
		{"team", AccountFilter{Managers: []string{"m1"}}, []string{"acme-1", "b-1"},
			map[string]int{"identify": 1, "engage": 1}, map[string]int{"prospect": 1, "core": 1}},
		{"query by name, case-insensitive", AccountFilter{Query: "CHAR"}, []string{"c-1"},
			map[string]int{"engage": 1}, map[string]int{"vip": 1}},
		{"query is literal", AccountFilter{Query: "%"}, []string{"c-1"},
			map[string]int{"engage": 1}, map[string]int{"vip": 1}},
		{"query underscore is literal", AccountFilter{Query: "a_x"}, []string{"d-1"},
			map[string]int{"maintain": 1}, map[string]int{"core": 1}},
		{"query by id", AccountFilter{Query: "acme"}, []string{"acme-1"},
			map[string]int{"identify": 1}, map[string]int{"prospect": 1}},
		{"page", AccountFilter{Limit: 2, Offset: 1}, []string{"b-1", "c-1"},
			map[string]int{"identify": 1, "engage": 2, "maintain": 1}, map[string]int{"prospect": 1, "core": 2, "vip": 1}},
		{"nothing", AccountFilter{Stage: "lost"}, []string{}, map[string]int{}, map[string]int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as, err := s.ListAccounts(ctx, tc.f)
			require.NoError(t, err)
			ids := []string{}
			for _, a := range as {
				ids = append(ids, a.ID)
			}
			require.Equal(t, tc.want, ids)
			byStage, byTier, err := s.AccountCounts(ctx, tc.f)
			require.NoError(t, err)
			require.Equal(t, tc.wantStage, byStage)
			require.Equal(t, tc.wantTier, byTier)
		})
	}
}

func TestSetAccountStage(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	require.NoError(t, s.SetAccountStage(ctx, "acme-1", "engage", t0, "", ""))
	first, err := s.Account(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, "engage", first.Stage)
	require.True(t, first.StageSince.Equal(t0))

	require.NoError(t, s.SetAccountStage(ctx, "acme-1", "engage", t0.Add(time.Hour), "", ""))
	again, err := s.Account(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, first, again, "the same stage again changes nothing")

	require.NoError(t, s.SetAccountStage(ctx, "acme-1", "lost", t0.Add(2*time.Hour), "lost", "went to a competitor"))
	lost, err := s.Account(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, "lost", lost.Outcome)
	require.Equal(t, "went to a competitor", lost.ClosedReason)
	require.True(t, lost.StageSince.Equal(t0.Add(2*time.Hour)))

	require.Error(t, s.SetAccountStage(ctx, "acme-1", "nirvana", t0, "", ""), "stages are checked")
}

func TestSetAccountManager(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := t.Context()
	seed(t, s)
	for _, tk := range []Task{
		{ID: "acme-1:visit:1", Kind: "visit", AssigneeID: "m1"},
		{ID: "acme-1:recovery_plan:1", Kind: "recovery_plan", AssigneeID: "m1"},
		{ID: "acme-1:follow_up:1", Kind: "follow_up", AssigneeID: "m1"},
		{ID: "acme-1:follow_up:2", Kind: "follow_up", AssigneeID: "m1"},
		{ID: "acme-1:esc:1:ack", Kind: "ack", AssigneeID: "sup"},
	} {
		tk.AccountID, tk.DueAt = "acme-1", t0
		_, err := s.CreateTask(ctx, tk)
		require.NoError(t, err)
	}
	_, err := s.CompleteTask(ctx, "acme-1:follow_up:2", "m1", "done", "", t0)
	require.NoError(t, err)

	for range 2 { // idempotent
		require.NoError(t, s.SetAccountManager(ctx, "acme-1", "m1", "m2"))
	}
	a, err := s.Account(ctx, "acme-1")
	require.NoError(t, err)
	require.Equal(t, "m2", a.ManagerID)
	want := map[string]string{
		"acme-1:visit:1": "m2", "acme-1:recovery_plan:1": "m2", "acme-1:follow_up:1": "m2",
		"acme-1:follow_up:2": "m1", // done: stays with who did it
		"acme-1:esc:1:ack":   "sup",
	}
	for id, assignee := range want {
		tk, err := s.Task(ctx, id)
		require.NoError(t, err)
		require.Equal(t, assignee, tk.AssigneeID, id)
	}
}
