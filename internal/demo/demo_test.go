package demo

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/pgcluster/pgtest"
	"github.com/kamflow/kamflow/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestDemoDataLoads checks what `make run` depends on: the shipped demo
// files parse, every script names a demo account, every manager's
// supervisor exists, the script reaches every stage, and loading twice
// changes nothing.
func TestDemoDataLoads(t *testing.T) {
	ctx := t.Context()
	st, err := store.Open(ctx, pgtest.Database(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Migrate(ctx))
	d := Deps{Store: st, Dir: "../../deploy/demo"}

	players, err := Load(ctx, d)
	require.NoError(t, err)
	again, err := Load(ctx, d)
	require.NoError(t, err)
	require.Equal(t, len(players), len(again))

	var seen []string
	for _, p := range players {
		require.NoError(t, p.Profile.Validate())
		m, err := st.Manager(ctx, p.Profile.Manager)
		require.NoError(t, err, "account %s has a demo manager", p.Profile.ID)
		require.Equal(t, activities.RoleManager, m.Role)
		seen = append(seen, p.Script)
	}
	for _, s := range scripts {
		require.True(t, slices.Contains(seen, s), "some account plays %q", s)
	}
	managers, err := st.Managers(ctx)
	require.NoError(t, err)
	roles := map[string]bool{}
	for _, m := range managers {
		roles[m.Role] = true
		if m.SupervisorID != "" {
			_, err := st.Manager(ctx, m.SupervisorID)
			require.NoError(t, err, "supervisor of %s exists", m.ID)
		}
	}
	require.Len(t, roles, 4, "the demo has every role")
	ops, err := st.ManagerByTokenHash(ctx, tokenHash("demo-ops"))
	require.NoError(t, err, "the README's demo token signs in")
	require.Equal(t, activities.RoleOps, ops.Role)
}
