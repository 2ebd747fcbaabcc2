// Package demo loads the demo data of `make run` and plays its script, so
// that within two minutes of starting the console and the Temporal UI show
// accounts in every stage. It uses the same client operations as the
// starter (internal/accounts): onboarding, events and task completion go
// through the workflows exactly as a person's would.
package demo

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/workflows"
)

// Deps is what the demo needs.
type Deps struct {
	Store     *store.Store
	Temporal  client.Client
	TaskQueue string
	// Dir holds managers.csv, accounts.csv and script.csv (deploy/demo).
	Dir    string
	Logger *slog.Logger
	// PublicURL and SurveySecret make the survey links the customers of the
	// demo open (activities.SurveyToken), as the worker mails them.
	PublicURL    string
	SurveySecret []byte
	// HTTP answers surveys through the worker's public survey page.
	HTTP *http.Client
}

// How long the script keeps acting; the policy's timers take over after.
const playFor = 15 * time.Minute

// Scripts: how far the demo pushes an account. Each includes the ones before.
var scripts = []string{"identify", "engage", "deepen", "maintain", "churn", "lost"}

// Load seeds the demo managers with their well-known dev tokens, onboards
// the demo accounts (those that start at once), and returns the players of
// the script; Play runs them. Loading twice changes nothing.
func Load(ctx context.Context, d Deps) ([]Player, error) {
	managers, err := readCSV(filepath.Join(d.Dir, "managers.csv"))
	if err != nil {
		return nil, err
	}
	for _, m := range managers {
		err := d.Store.UpsertManager(ctx, store.Manager{
			ID: m["id"], Name: m["name"], Email: m["email"], Role: m["role"], SupervisorID: m["supervisor"],
		})
		if err != nil {
			return nil, fmt.Errorf("demo manager %s: %w", m["id"], err)
		}
		if err := d.Store.SetManagerToken(ctx, m["id"], tokenHash(m["token"])); err != nil {
			return nil, fmt.Errorf("demo token of %s: %w", m["id"], err)
		}
	}
	f, err := os.Open(filepath.Join(d.Dir, "accounts.csv"))
	if err != nil {
		return nil, fmt.Errorf("demo accounts: %w", err)
	}
	defer f.Close()
	rows, bad := accounts.ReadAccountsCSV(f)
	if len(bad) > 0 {
		return nil, fmt.Errorf("demo accounts.csv: %w", bad[0])
	}
	script, err := readCSV(filepath.Join(d.Dir, "script.csv"))
	if err != nil {
		return nil, err
	}
	byID := map[string]activities.Profile{}
	for _, r := range rows {
		byID[r.Profile.ID] = r.Profile
	}
	var players []Player
	for _, s := range script {
		p, ok := byID[s["account"]]
		if !ok || !slices.Contains(scripts, s["script"]) {
			return nil, fmt.Errorf("demo script.csv: account %q or script %q unknown", s["account"], s["script"])
		}
		after, err := time.ParseDuration(s["start_after"])
		if err != nil {
			return nil, fmt.Errorf("demo script.csv: %s start_after: %w", p.ID, err)
		}
		players = append(players, Player{Profile: p, Script: s["script"], StartAfter: after})
	}
	return players, nil
}

// Player acts for one account: onboards it when its time comes, then plays
// the customer (orders, complaints) and, for accounts that should progress,
// a diligent manager who completes visits.
type Player struct {
	Profile    activities.Profile
	Script     string
	StartAfter time.Duration
	onboarded  bool
}

// Play runs the players until ctx ends or playFor passes, every 2 seconds.
// Every event has a fixed external id, so acting twice (or after a restart)
// changes nothing.
func Play(ctx context.Context, d Deps, players []Player) {
	started := time.Now()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for time.Since(started) < playFor {
		for i := range players {
			if err := players[i].act(ctx, d, time.Since(started)); err != nil && ctx.Err() == nil {
				d.Logger.Warn("demo step failed", "account_id", players[i].Profile.ID, "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	d.Logger.Info("demo script finished; accounts go on under the demo policy")
}

func (p *Player) wants(script string) bool {
	return slices.Index(scripts, p.Script) >= slices.Index(scripts, script)
}

func (p *Player) act(ctx context.Context, d Deps, elapsed time.Duration) error {
	if !p.onboarded {
		if elapsed < p.StartAfter {
			return nil
		}
		if _, err := accounts.Onboard(ctx, d.Temporal, d.TaskQueue, p.Profile); err != nil {
			return err
		}
		p.onboarded = true
	}
	st, err := accounts.Status(ctx, d.Temporal, p.Profile.ID)
	if errors.Is(err, accounts.ErrNotFound) {
		return nil // not started yet on a busy machine
	}
	if err != nil {
		return err
	}
	if st.Stage == workflows.StageLost || st.Stage == workflows.StageDisqualified || st.Stage == workflows.StageClosed {
		return nil // its customer has moved on
	}
	if err := p.answerSurveys(ctx, d); err != nil {
		return err
	}
	switch st.Stage {
	case workflows.StageEngage:
		if p.wants("deepen") {
			if err := p.event(ctx, d, "order-1", activities.EventOrder, 600_000, 0); err != nil {
				return err
			}
			return p.completeVisits(ctx, d, st)
		}
	case workflows.StageDeepen:
		if p.wants("maintain") {
			if err := p.event(ctx, d, "order-2", activities.EventOrder, 650_000, 0); err != nil {
				return err
			}
		}
		return p.completeVisits(ctx, d, st)
	case workflows.StageMaintain:
		if p.wants("churn") {
			return p.event(ctx, d, "complaint-1", activities.EventComplaint, 0, 5)
		}
		return p.completeVisits(ctx, d, st)
	case workflows.StageChurnRecovery:
		if p.wants("lost") {
			return p.event(ctx, d, "contract-lost", activities.EventContractLost, 0, 0)
		}
	}
	return nil
}

func (p *Player) event(ctx context.Context, d Deps, name, kind string, amount float64, severity int) error {
	return accounts.SendEvent(ctx, d.Temporal, p.Profile.ID, activities.Event{
		ExternalID: "demo:" + p.Profile.ID + ":" + name, Kind: kind, At: time.Now().UTC(),
		Amount: amount, Severity: severity, Note: "demo",
	})
}

// answerSurveys plays the customer: a survey is answered through its link
// (the public page a mail leads to) once it is 10 seconds old. Content
// customers are promoters, those on their way out detractors; which
// customers answer at all depends on the account, as in life.
func (p *Player) answerSurveys(ctx context.Context, d Deps) error {
	if sum := sha256.Sum256([]byte(p.Profile.ID)); sum[0]%4 == 0 {
		return nil // a quarter never answer: the response rate is not 100%
	}
	open, err := d.Store.OpenSurveys(ctx, p.Profile.ID, time.Now())
	if err != nil {
		return err
	}
	for _, sv := range open {
		if time.Since(sv.SentAt) < 10*time.Second {
			continue
		}
		score, comment := p.opinion(sv.Kind)
		form := url.Values{"score": {strconv.Itoa(score)}, "comment": {comment}}
		link := d.PublicURL + "/s/" + activities.SurveyToken(d.SurveySecret, sv.ID)
		resp, err := d.HTTP.PostForm(link, form)
		if err != nil {
			return fmt.Errorf("answer survey %s: %w", sv.ID, err)
		}
		resp.Body.Close()
		// 409: answered meanwhile (a restart, or two demo players).
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict {
			return fmt.Errorf("answer survey %s: the survey page answered %s", sv.ID, resp.Status)
		}
	}
	return nil
}

// opinion is what the account's customer thinks, by where its script leads.
func (p *Player) opinion(kind string) (int, string) {
	unhappy := p.wants("churn")
	switch {
	case kind == "csat" && unhappy:
		return 2, "Deliveries keep slipping."
	case kind == "csat":
		return 5, "Very responsive team."
	case unhappy:
		return 3, "We are looking at other suppliers."
	case p.Script == "maintain":
		return 10, "Reliable partner, we recommend you."
	}
	return 8, "Good so far."
}

// completeVisits plays the manager reporting on every visit that is open.
func (p *Player) completeVisits(ctx context.Context, d Deps, st workflows.Status) error {
	for _, t := range st.OpenTasks {
		if t.Kind != activities.TaskVisit {
			continue
		}
		_, err := accounts.CompleteTask(ctx, d.Temporal, workflows.CompleteTaskRequest{
			TaskID: t.ID, Actor: t.Assignee, ActorRole: activities.RoleManager,
			Outcome: "visited", Notes: "demo: met the buyer, discussed next quarter",
		})
		var rejected *accounts.Rejected
		if errors.As(err, &rejected) {
			continue // completed meanwhile, or not ours: nothing to do
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// tokenHash is how the record keeps an API token (as `starter managers add` does).
func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// readCSV reads a small demo file into one map per row, keyed by header.
func readCSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("demo data: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("demo data %s: %w", path, err)
	}
	var rows []map[string]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("demo data %s: %w", path, err)
		}
		row := map[string]string{}
		for i, h := range header {
			row[h] = rec[i]
		}
		rows = append(rows, row)
	}
}
