package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/config"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/workflows"
)

func (a *app) managersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "managers",
		Short: "add and list the people who own accounts and act on tasks",
		Example: `  starter managers add --id m.chen --name 陈明 --email chen@example.com --role manager --supervisor s.wang
  starter managers list`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("a subcommand is required: %s", strings.Join(commandNames(cmd), ", "))
		},
	}
	cmd.AddCommand(a.managersAddCommand(), a.managersListCommand())
	return cmd
}

func (a *app) managersAddCommand() *cobra.Command {
	var m store.Manager
	cmd := &cobra.Command{
		Use:   "add --id ID --name NAME --email EMAIL --role manager|supervisor|senior|ops [--supervisor ID]",
		Short: "add a manager (or update one) and print a new API token",
		Long: `add creates a manager, or updates the profile of an existing one, and gives
them a new API token for the console and the API. The token is printed once
and only its hash is stored: keep it, or run add again for a new one (which
replaces the old). A supervisor must be added before the people reporting to
them. Roles: ` + strings.Join(activities.Roles, ", ") + `.`,
		Example: `  starter managers add --id s.wang --name 王芳 --email wang@example.com --role supervisor
  starter managers add --id m.chen --name 陈明 --email chen@example.com --role manager --supervisor s.wang`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "id", "name", "email", "role"); err != nil {
				return err
			}
			if err := validManager(m); err != nil {
				return usageError{err: err}
			}
			return a.addManager(cmd.Context(), m)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&m.ID, "id", "", "manager id: 1-64 letters, digits, '.', '_' or '-' (required)")
	f.StringVar(&m.Name, "name", "", "full name (required)")
	f.StringVar(&m.Email, "email", "", "where tasks and escalations are mailed (required)")
	f.StringVar(&m.Role, "role", "", "manager, supervisor, senior or ops (required)")
	f.StringVar(&m.SupervisorID, "supervisor", "", "id of their supervisor, who receives their escalations")
	return cmd
}

func validManager(m store.Manager) error {
	var errs []error
	if err := activities.ValidID(m.ID); err != nil {
		errs = append(errs, fmt.Errorf("--id: %w", err))
	}
	if _, err := mail.ParseAddress(m.Email); err != nil || !strings.Contains(m.Email, "@") {
		errs = append(errs, fmt.Errorf("--email %q: not an e-mail address", m.Email))
	}
	if !slices.Contains(activities.Roles, m.Role) {
		errs = append(errs, fmt.Errorf("--role %q: want one of %s", m.Role, strings.Join(activities.Roles, ", ")))
	}
	if m.SupervisorID != "" {
		if err := activities.ValidID(m.SupervisorID); err != nil {
			errs = append(errs, fmt.Errorf("--supervisor: %w", err))
		} else if m.SupervisorID == m.ID {
			errs = append(errs, errors.New("--supervisor: a manager cannot supervise themselves"))
		}
	}
	return errors.Join(errs...)
}

// newToken returns an API token and the hash the store keeps. The API
// hashes what a caller presents the same way and compares hashes.
func newToken() (token string, hash []byte) {
	token = rand.Text()
	sum := sha256.Sum256([]byte(token))
	return token, sum[:]
}

func (a *app) addManager(ctx context.Context, m store.Manager) error {
	st, err := a.db(ctx)
	if err != nil {
		return err
	}
	if m.SupervisorID != "" {
		if _, err := st.Manager(ctx, m.SupervisorID); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--supervisor %s: unknown manager: add the supervisor first", m.SupervisorID)
		} else if err != nil {
			return err
		}
	}
	if err := st.UpsertManager(ctx, m); err != nil {
		return err
	}
	token, hash := newToken()
	if err := st.SetManagerToken(ctx, m.ID, hash); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]string{"id": m.ID, "name": m.Name, "role": m.Role, "token": token})
	}
	a.printf("manager %s (%s, %s) saved\nAPI token, shown only now (a new `managers add` replaces it):\n%s\n", m.ID, m.Name, m.Role, token)
	return nil
}

func (a *app) managersListCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "list the managers",
		Example: `  starter managers list --json`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			ms, err := st.Managers(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				if ms == nil {
					ms = []store.Manager{}
				}
				return a.printJSON(ms)
			}
			var tb table
			tb.add("ID", "NAME", "EMAIL", "ROLE", "SUPERVISOR", "TOKEN")
			for _, m := range ms {
				token := "no"
				if len(m.TokenHash) > 0 {
					token = "yes"
				}
				tb.add(m.ID, m.Name, m.Email, m.Role, orDash(m.SupervisorID), token)
			}
			return tb.write(a.stdout, "")
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) policyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "policy",
		Short:   "work with policy files",
		Example: `  starter policy check deploy/demo/policy.yaml`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("a subcommand is required: %s", strings.Join(commandNames(cmd), ", "))
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "validate a policy file and show what it changes from the defaults",
		Long: `check reads a policy file as the worker would (unknown fields and bad values
are errors naming their line) and prints every value that differs from the
built-in defaults, one "path: default -> file" line each.`,
		Example: `  starter policy check deploy/demo/policy.yaml
  starter policy check policy.yaml --json`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policy.Load(args[0])
			if err != nil {
				return err
			}
			diff := policy.Diff(policy.Default(), p)
			if a.json {
				if diff == nil {
					diff = []string{}
				}
				return a.printJSON(map[string]any{"file": args[0], "valid": true, "changes": diff})
			}
			if len(diff) == 0 {
				a.printf("%s is valid and changes nothing from the defaults\n", args[0])
				return nil
			}
			a.printf("%s is valid; it changes %d values from the defaults:\n", args[0], len(diff))
			for _, d := range diff {
				a.printf("%s\n", "  "+d)
			}
			return nil
		},
	})
	return cmd
}

func (a *app) setupCommand() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "setup [--dry-run]",
		Short: "register kamflow's search attributes on the Temporal namespace",
		Long: `setup registers the search attributes kamflow's workflows set (stage, tier,
manager, health, churn risk) on the namespace, through Temporal's operator
service. It is safe to run again: attributes already registered are left as
they are. ` + "`worker --dev`" + ` registers them itself. With --dry-run it prints the
equivalent ` + "`temporal`" + ` CLI commands instead, for clusters where another team
runs setup.`,
		Example: `  starter setup
  TEMPORAL_NAMESPACE=kam-prod starter setup --dry-run`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd.Context(), dryRun)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the temporal CLI commands instead of running anything")
	return cmd
}

// searchAttributeNames returns kamflow's search attributes sorted by name.
func searchAttributeNames() []string {
	names := make([]string, 0, len(workflows.SearchAttributes))
	for n := range workflows.SearchAttributes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// cliType is the type name the temporal CLI takes.
func cliType(t enumspb.IndexedValueType) string {
	return strings.TrimPrefix(t.String(), "INDEXED_VALUE_TYPE_")
}

func (a *app) setup(ctx context.Context, dryRun bool) error {
	env, _ := a.temporalEnv()
	opts, err := config.TemporalClientOptions(env, "")
	if err != nil {
		return err
	}
	ns := opts.Namespace
	if ns == "" {
		ns = "default"
	}
	names := searchAttributeNames()
	if dryRun {
		for _, n := range names {
			t := workflows.SearchAttributes[n]
			a.printf("temporal operator search-attribute create --namespace %s --name %s --type %s\n",
				ns, n, titleCase(cliType(t)))
		}
		return nil
	}
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := a.opCtx(ctx)
	defer cancel()
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %s: %w", ns, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	var errs []error
	type line struct{ name, state string }
	var report []line
	for _, n := range names {
		want := workflows.SearchAttributes[n]
		got, ok := have.GetCustomAttributes()[n]
		switch {
		case !ok:
			missing[n] = want
			report = append(report, line{n, "registered"})
		case got != want:
			errs = append(errs, fmt.Errorf("search attribute %s is registered as %s, kamflow needs %s: remove it or use another namespace", n, titleCase(cliType(got)), titleCase(cliType(want))))
		default:
			report = append(report, line{n, "already registered"})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(missing) > 0 {
		if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: ns, SearchAttributes: missing,
		}); err != nil {
			return fmt.Errorf("register search attributes on namespace %s: %w", ns, err)
		}
	}
	if a.json {
		out := map[string]string{}
		for _, l := range report {
			out[l.name] = l.state
		}
		return a.printJSON(map[string]any{"namespace": ns, "search_attributes": out})
	}
	for _, l := range report {
		a.printf("%s (%s): %s\n", l.name, titleCase(cliType(workflows.SearchAttributes[l.name])), l.state)
	}
	return nil
}

// titleCase turns KEYWORD into Keyword, the CLI's spelling.
func titleCase(s string) string {
	if s == "" {
		return s
	}
	return s[:1] + strings.ToLower(s[1:])
}
