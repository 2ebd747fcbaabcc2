package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/internal/store"
)

// The access rules on their own, including what the matrix test's people
// do not cover: a supervisor of supervisors sees the whole tree below but,
// like the workflow, completes only their direct reports' tasks.
func TestAccessRules(t *testing.T) {
	head := &principal{Manager: store.Manager{ID: "head", Role: "supervisor"}, Team: []string{"sup", "m1"}, Reports: []string{"sup"}}
	mgr := &principal{Manager: store.Manager{ID: "m1", Role: "manager"}}
	senior := &principal{Manager: store.Manager{ID: "sen", Role: "senior"}}
	ops := &principal{Manager: store.Manager{ID: "ops", Role: "ops"}}
	open := func(assignee string) store.Task { return store.Task{AssigneeID: assignee, State: store.TaskOpen} }

	for _, c := range []struct {
		name string
		got  bool
		want bool
	}{
		{"manager reads own account", mgr.canReadAccount("m1"), true},
		{"manager reads another's account", mgr.canReadAccount("m2"), false},
		{"head reads a grandchild's account", head.canReadAccount("m1"), true},
		{"head reads outside the tree", head.canReadAccount("m9"), false},
		{"senior reads any account", senior.canReadAccount("m9"), true},
		{"manager completes own task", mgr.canComplete(open("m1")), true},
		{"manager completes a done task", mgr.canComplete(store.Task{AssigneeID: "m1", State: store.TaskDone}), false},
		{"manager completes another's task", mgr.canComplete(open("m2")), false},
		{"head completes a direct report's task", head.canComplete(open("sup")), true},
		{"head completes a grandchild's task", head.canComplete(open("m1")), false},
		{"head reads a grandchild's task", head.canReadTask(open("m1"), "m1"), true},
		{"senior completes a manager's task", senior.canComplete(open("m1")), false},
		{"senior completes own ack", senior.canComplete(open("sen")), true},
		{"ops completes anything", ops.canComplete(open("m9")), true},
		{"manager sees escalations", mgr.seesEscalations(), false},
		{"senior sees escalations", senior.seesEscalations(), true},
	} {
		require.Equal(t, c.want, c.got, c.name)
	}
	require.Equal(t, []string{"m1"}, mgr.assignees())
	require.Equal(t, []string{"head", "sup", "m1"}, head.assignees())
	require.Equal(t, []string{"sen"}, senior.assignees())
	require.Nil(t, ops.assignees(), "ops: everyone's")
	require.Nil(t, senior.managers(), "senior: every account")
}
