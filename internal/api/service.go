package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/store"
	"github.com/kamflow/kamflow/workflows"
)

// What the console and the API share: each reads the same data under the
// same rules, the API encodes it as JSON and the console renders it.

// Task is a task as the API and the console show it.
type Task struct {
	ID              string     `json:"id"`
	AccountID       string     `json:"account_id"`
	AccountName     string     `json:"account_name"`
	Kind            string     `json:"kind"`
	Title           string     `json:"title"`
	AssigneeID      string     `json:"assignee_id"`
	AssigneeName    string     `json:"assignee_name"`
	DueAt           time.Time  `json:"due_at"`
	State           string     `json:"state"`
	Overdue         bool       `json:"overdue"`
	EscalationLevel int        `json:"escalation_level"`
	CreatedAt       time.Time  `json:"created_at"`
	CompletedAt     *time.Time `json:"completed_at,omitempty"`
	CompletedBy     string     `json:"completed_by,omitempty"`
	Outcome         string     `json:"outcome,omitempty"`
	Notes           string     `json:"notes,omitempty"`
	// CanComplete says whether the caller may complete it.
	CanComplete bool `json:"can_complete"`
	// Soon is open and due within a day (for the console's colours).
	Soon bool `json:"-"`
}

func newTask(t store.InboxTask, p *principal, now time.Time) Task {
	open := t.State == store.TaskOpen
	return Task{
		ID: t.ID, AccountID: t.AccountID, AccountName: t.AccountName, Kind: t.Kind, Title: t.Title,
		AssigneeID: t.AssigneeID, AssigneeName: orDefault(t.AssigneeName, t.AssigneeID), DueAt: t.DueAt, State: t.State,
		Overdue: open && now.After(t.DueAt), EscalationLevel: t.EscalationLevel, CreatedAt: t.CreatedAt,
		CompletedAt: t.CompletedAt, CompletedBy: t.CompletedBy, Outcome: t.Outcome, Notes: t.Notes,
		CanComplete: p.canComplete(t.Task), Soon: open && !now.After(t.DueAt) && t.DueAt.Sub(now) < 24*time.Hour,
	}
}

// Inbox is one page of the caller's tasks.
type Inbox struct {
	State  string            `json:"state"`
	Counts store.InboxCounts `json:"counts"`
	Tasks  []Task            `json:"tasks"`
	// Next continues the list (?after=Next) when there may be more.
	Next string `json:"next,omitempty"`
}

const (
	defaultPage = 100
	maxPage     = 500
)

func (s *server) inbox(ctx context.Context, p *principal, q url.Values) (Inbox, error) {
	state := q.Get("state")
	if state == "" {
		state = store.TaskOpen
	}
	if state != store.TaskOpen && state != store.TaskDone {
		return Inbox{}, errBadRequest("state %q: want open or done", state)
	}
	n, err := pageSize(q.Get("limit"))
	if err != nil {
		return Inbox{}, err
	}
	var after *store.InboxCursor
	if c := q.Get("after"); c != "" {
		at, id, err := decodeCursor(c)
		if err != nil {
			return Inbox{}, err
		}
		after = &store.InboxCursor{At: at, ID: id}
	}
	now := s.Now()
	rows, err := s.Store.InboxPage(ctx, store.InboxQuery{Assignees: p.assignees(), State: state, After: after, Limit: n + 1})
	if err != nil {
		return Inbox{}, err
	}
	counts, err := s.Store.CountInbox(ctx, p.assignees(), now)
	if err != nil {
		return Inbox{}, err
	}
	out := Inbox{State: state, Counts: counts, Tasks: make([]Task, 0, min(len(rows), n))}
	for i, t := range rows {
		if i == n {
			last := rows[n-1]
			at := last.DueAt
			if state == store.TaskDone && last.CompletedAt != nil {
				at = *last.CompletedAt
			}
			out.Next = encodeCursor(at, last.ID)
			break
		}
		out.Tasks = append(out.Tasks, newTask(t, p, now))
	}
	return out, nil
}

// Completion is a confirmed task completion.
type Completion struct {
	TaskID      string    `json:"task_id"`
	CompletedAt time.Time `json:"completed_at"`
	Task        Task      `json:"task"`
}

const (
	maxOutcome = 200
	maxNotes   = 4000
)

// completeTask checks what the record can tell (the task exists, the
// caller may act on it, it is open) and then asks the account's workflow,
// which has the last word: its validator's refusal comes back with its
// status and message.
func (s *server) completeTask(ctx context.Context, p *principal, id, outcome, notes string) (Completion, error) {
	if _, err := accounts.TaskAccount(id); err != nil || len(id) > 200 || !taskIDText(id) {
		return Completion{}, errBadRequest("task id %q: want <account>:<kind>:<n>, e.g. acme-1:visit:3", id)
	}
	outcome, notes = strings.TrimSpace(outcome), strings.TrimSpace(notes)
	switch {
	case outcome == "":
		return Completion{}, errBadRequest("outcome is required: say what happened")
	case utf8.RuneCountInString(outcome) > maxOutcome:
		return Completion{}, errBadRequest("outcome: at most %d characters", maxOutcome)
	case utf8.RuneCountInString(notes) > maxNotes:
		return Completion{}, errBadRequest("notes: at most %d characters", maxNotes)
	case !utf8.ValidString(outcome) || !utf8.ValidString(notes):
		return Completion{}, errBadRequest("outcome and notes must be UTF-8 text")
	case strings.ContainsRune(outcome, 0) || strings.ContainsRune(notes, 0):
		return Completion{}, errBadRequest("outcome and notes must not contain NUL characters")
	}
	t, err := s.Store.InboxTaskByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Completion{}, errNotFound("task %s does not exist", id)
	}
	if err != nil {
		return Completion{}, err
	}
	if !p.canReadTask(t.Task, t.AccountManager) {
		return Completion{}, errForbidden("task %s is not yours or your team's", id)
	}
	if t.State != store.TaskOpen {
		return Completion{}, errConflict("task %s is already %s", id, t.State)
	}
	if !p.canComplete(t.Task) {
		return Completion{}, errForbidden("task %s belongs to %s: only they, their supervisor or ops may complete it", id, t.AssigneeID)
	}
	uctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := accounts.CompleteTask(uctx, s.Temporal, workflows.CompleteTaskRequest{
		TaskID: id, Actor: p.ID, ActorRole: p.Role, Outcome: outcome, Notes: notes,
	})
	var rej *accounts.Rejected
	if errors.As(err, &rej) {
		return Completion{}, &apiError{Status: rej.Code, Code: rejectedCode(rej.Code), Detail: rej.Message}
	}
	if err != nil {
		return Completion{}, err
	}
	s.Logger.Info("task completed", "task_id", id, "actor", p.ID, "role", p.Role)
	done, err := s.Store.InboxTaskByID(ctx, id)
	if err != nil {
		return Completion{}, fmt.Errorf("read completed task %s: %w", id, err)
	}
	return Completion{TaskID: res.TaskID, CompletedAt: res.CompletedAt, Task: newTask(done, p, s.Now())}, nil
}

// taskIDText keeps task ids to the printable ASCII keys are made of
// ("<account>:<kind>:<n>"), so a stray byte is a 400, not a database error.
func taskIDText(id string) bool {
	for _, r := range id {
		if r > 0x7e || r <= 0x20 {
			return false
		}
	}
	return true
}

func rejectedCode(status int) string {
	switch status {
	case 400:
		return "bad_request"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 409:
		return "conflict"
	}
	return "rejected"
}

// Account is an account with its manager's name.
type Account struct {
	store.Account
	ManagerName string `json:"manager_name"`
}

// AccountList is one page of accounts with their counts.
type AccountList struct {
	Accounts []Account `json:"accounts"`
	// Total is how many accounts match the filter.
	Total int `json:"total"`
	// ByStage and ByTier count the matching accounts ignoring the stage and
	// tier filters, so a list filtered to one stage still shows the others.
	ByStage map[string]int            `json:"by_stage"`
	ByTier  map[string]int            `json:"by_tier"`
	Matrix  map[string]map[string]int `json:"matrix"`
	Filter  AccountFilter             `json:"filter"`
	Limit   int                       `json:"limit"`
	Offset  int                       `json:"offset"`
	// Managers whose accounts the caller may filter by, for the console.
	Managers []store.TeamMember `json:"-"`
}

// AccountFilter is the accounts list's query, as the caller gave it.
type AccountFilter struct {
	Stage   string `json:"stage,omitempty"`
	Tier    string `json:"tier,omitempty"`
	Manager string `json:"manager,omitempty"`
	Q       string `json:"q,omitempty"`
}

func (s *server) accountList(ctx context.Context, p *principal, q url.Values) (AccountList, error) {
	f := AccountFilter{Stage: q.Get("stage"), Tier: q.Get("tier"), Manager: q.Get("manager"), Q: strings.TrimSpace(q.Get("q"))}
	switch {
	case f.Stage != "" && !slices.Contains(accounts.Stages, f.Stage):
		return AccountList{}, errBadRequest("stage %q: want one of %s", f.Stage, strings.Join(accounts.Stages, ", "))
	case f.Tier != "" && !slices.Contains(accounts.Tiers, f.Tier):
		return AccountList{}, errBadRequest("tier %q: want one of %s", f.Tier, strings.Join(accounts.Tiers, ", "))
	case f.Manager != "" && activities.ValidID(f.Manager) != nil:
		return AccountList{}, errBadRequest("manager: %v", activities.ValidID(f.Manager))
	case utf8.RuneCountInString(f.Q) > 100 || !utf8.ValidString(f.Q):
		return AccountList{}, errBadRequest("q: at most 100 characters of text")
	}
	n, err := pageSize(q.Get("limit"))
	if err != nil {
		return AccountList{}, err
	}
	offset := 0
	if o := q.Get("offset"); o != "" {
		if offset, err = strconv.Atoi(o); err != nil || offset < 0 || offset > 1_000_000 {
			return AccountList{}, errBadRequest("offset %q: want a number from 0", o)
		}
	}
	scope := p.managers()
	if f.Manager != "" && scope != nil && !slices.Contains(scope, f.Manager) {
		return AccountList{}, errForbidden("you may not list the accounts of %s", f.Manager)
	}
	sf := store.AccountFilter{Stage: f.Stage, Tier: f.Tier, Manager: f.Manager, Managers: scope, Query: f.Q, Limit: n, Offset: offset}
	rows, err := s.Store.ListAccounts(ctx, sf)
	if err != nil {
		return AccountList{}, err
	}
	matrix, err := s.Store.AccountMatrix(ctx, sf)
	if err != nil {
		return AccountList{}, err
	}
	names, err := s.Store.ManagerNames(ctx)
	if err != nil {
		return AccountList{}, err
	}
	out := AccountList{Accounts: make([]Account, 0, len(rows)), Filter: f, Limit: n, Offset: offset,
		ByStage: map[string]int{}, ByTier: map[string]int{}, Matrix: matrix}
	for stage, tiers := range matrix {
		for tier, c := range tiers {
			out.ByStage[stage] += c
			out.ByTier[tier] += c
			if (f.Stage == "" || f.Stage == stage) && (f.Tier == "" || f.Tier == tier) {
				out.Total += c
			}
		}
	}
	for _, a := range rows {
		out.Accounts = append(out.Accounts, Account{Account: a, ManagerName: orDefault(names[a.ManagerID], a.ManagerID)})
	}
	return out, nil
}

// AccountDetail is an account's page: the account, its latest scores with
// their reasons, its open tasks and a page of its timeline.
type AccountDetail struct {
	Account   Account           `json:"account"`
	Score     *store.Score      `json:"score"`
	OpenTasks []Task            `json:"open_tasks"`
	Timeline  []TimelineEntry   `json:"timeline"`
	Next      string            `json:"next,omitempty"`
	Names     map[string]string `json:"-"`
}

// TimelineEntry is one line of the account's history, ready to show.
type TimelineEntry struct {
	At   time.Time `json:"at"`
	Type string    `json:"type"`
	Ref  string    `json:"ref"`
	// Title and Text are the line as a person reads it.
	Title string `json:"title"`
	Text  string `json:"text,omitempty"`
	// Fields are the record's values behind the line.
	Item store.TimelineItem `json:"item"`
}

func (s *server) accountDetail(ctx context.Context, p *principal, id string, q url.Values) (AccountDetail, error) {
	if err := activities.ValidID(id); err != nil {
		return AccountDetail{}, errBadRequest("account id: %v", err)
	}
	n := 50
	if l := q.Get("limit"); l != "" {
		var err error
		if n, err = strconv.Atoi(l); err != nil || n < 1 || n > maxPage {
			return AccountDetail{}, errBadRequest("limit %q: want 1 to %d", l, maxPage)
		}
	}
	var before *store.TimelineCursor
	if c := q.Get("before"); c != "" {
		var err error
		if before, err = decodeTimelineCursor(c); err != nil {
			return AccountDetail{}, err
		}
	}
	a, err := s.Store.Account(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return AccountDetail{}, errNotFound("account %s does not exist", id)
	}
	if err != nil {
		return AccountDetail{}, err
	}
	if !p.canReadAccount(a.ManagerID) {
		return AccountDetail{}, errForbidden("account %s is managed by %s: you may read only your own accounts or your team's", id, a.ManagerID)
	}
	now := s.Now()
	names, err := s.Store.ManagerNames(ctx)
	if err != nil {
		return AccountDetail{}, err
	}
	out := AccountDetail{Account: Account{Account: a, ManagerName: orDefault(names[a.ManagerID], a.ManagerID)},
		OpenTasks: []Task{}, Timeline: []TimelineEntry{}, Names: names}
	sc, err := s.Store.LatestScore(ctx, id)
	switch {
	case err == nil:
		out.Score = &sc
	case !errors.Is(err, store.ErrNotFound):
		return AccountDetail{}, err
	}
	open, err := s.Store.InboxPage(ctx, store.InboxQuery{AccountID: id, State: store.TaskOpen, Limit: maxPage})
	if err != nil {
		return AccountDetail{}, err
	}
	for _, t := range open {
		out.OpenTasks = append(out.OpenTasks, newTask(t, p, now))
	}
	items, err := s.Store.TimelinePage(ctx, id, before, n+1, now)
	if err != nil {
		return AccountDetail{}, err
	}
	for i, it := range items {
		if i == n {
			last := items[n-1]
			out.Next = encodeTimelineCursor(last)
			break
		}
		out.Timeline = append(out.Timeline, describe(it, names))
	}
	return out, nil
}

func (s *server) escalationList(ctx context.Context, p *principal) ([]store.EscalationItem, error) {
	if !p.seesEscalations() {
		return nil, errForbidden("escalations are for supervisors, senior management and ops; yours reach you as tasks")
	}
	if p.Role == activities.RoleSupervisor {
		return s.Store.EscalationsFor(ctx, p.ID, p.managers(), 200)
	}
	return s.Store.EscalationsFor(ctx, p.ID, nil, 200)
}

func (s *server) outboxList(ctx context.Context, p *principal, q url.Values) ([]store.OutboxItem, error) {
	if !p.isOps() {
		return nil, errForbidden("the outbox holds every customer's survey links: ops only")
	}
	query := strings.TrimSpace(q.Get("q"))
	if utf8.RuneCountInString(query) > 100 || !utf8.ValidString(query) {
		return nil, errBadRequest("q: at most 100 characters of text")
	}
	return s.Store.OutboxPage(ctx, query, 100)
}

func pageSize(v string) (int, error) {
	if v == "" {
		return defaultPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxPage {
		return 0, errBadRequest("limit %q: want 1 to %d", v, maxPage)
	}
	return n, nil
}

// Cursors are opaque to clients: base64 of the sort key of the last item.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixNano(), 10) + "|" + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if ns, id, ok := strings.Cut(string(b), "|"); ok {
			if n, err := strconv.ParseInt(ns, 10, 64); err == nil {
				return time.Unix(0, n).UTC(), id, nil
			}
		}
	}
	return time.Time{}, "", errBadRequest("cursor %q is not one this API gave out", c)
}

func encodeTimelineCursor(it store.TimelineItem) string {
	return encodeCursor(it.At, it.Type+"|"+it.Ref)
}

func decodeTimelineCursor(c string) (*store.TimelineCursor, error) {
	at, rest, err := decodeCursor(c)
	if err != nil {
		return nil, err
	}
	typ, ref, ok := strings.Cut(rest, "|")
	if !ok {
		return nil, errBadRequest("cursor %q is not one this API gave out", c)
	}
	return &store.TimelineCursor{At: at, Type: typ, Ref: ref}, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
