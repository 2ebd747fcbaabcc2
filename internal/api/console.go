package api

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/store"
)

// section is one entry of the console's navigation. A new page (such as
// the portfolio view for senior management) adds its entry here, its route
// in New and a template named after its Key; the layout needs no change.
type section struct {
	Key   string
	Href  string
	Label string
	// Roles that see it; nil means everyone signed in.
	Roles []string
}

var sections = []section{
	{Key: "inbox", Href: "/inbox", Label: "Inbox"},
	{Key: "accounts", Href: "/accounts", Label: "Accounts"},
	{Key: "escalations", Href: "/escalations", Label: "Escalations",
		Roles: []string{activities.RoleSupervisor, activities.RoleSenior, activities.RoleOps}},
	// The programme's KPIs; every role sees them for the accounts it may read.
	{Key: "portfolio", Href: "/portfolio", Label: "Portfolio"},
	{Key: "outbox", Href: "/outbox", Label: "Outbox", Roles: []string{activities.RoleOps}},
}

// navItem is a section as one person's navigation shows it.
type navItem struct {
	Href   string
	Label  string
	Active bool
	// Count is a badge: the overdue tasks on the inbox.
	Count int
}

// consolePage starts a page for p with its navigation; active is the
// section's key.
func (s *server) consolePage(w http.ResponseWriter, r *http.Request, p *principal, active, title string, data any) *page {
	pg := &page{Title: title, Me: p, Data: data, Flash: s.takeFlash(w, r)}
	if p.Session != nil {
		pg.CSRF = p.Session.CSRF
	}
	overdue := -1
	for _, sec := range sections {
		if sec.Roles != nil && !slices.Contains(sec.Roles, p.Role) {
			continue
		}
		item := navItem{Href: sec.Href, Label: sec.Label, Active: sec.Key == active}
		if sec.Key == "inbox" {
			if overdue < 0 {
				overdue = 0
				if c, err := s.Store.CountInbox(r.Context(), p.assignees(), s.Now()); err == nil {
					overdue = c.Overdue
				} else {
					s.Logger.Warn("inbox badge", "manager_id", p.ID, "error", err)
				}
			}
			item.Count = overdue
		}
		pg.Nav = append(pg.Nav, item)
	}
	return pg
}

func (s *server) home(w http.ResponseWriter, r *http.Request, _ *principal) error {
	http.Redirect(w, r, "/inbox", http.StatusSeeOther)
	return nil
}

// inboxView is the inbox page's data.
type inboxView struct {
	Inbox
	Team bool
	// Overdue, DueSoon and Later split the page's open tasks, overdue first.
	Overdue, Later []Task
}

func (s *server) inboxPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	in, err := s.inbox(r.Context(), p, r.URL.Query())
	if err != nil {
		return err
	}
	v := inboxView{Inbox: in, Team: len(p.Team) > 0 || p.isOps()}
	for _, t := range in.Tasks {
		if t.Overdue {
			v.Overdue = append(v.Overdue, t)
		} else {
			v.Later = append(v.Later, t)
		}
	}
	s.render(w, r, http.StatusOK, "inbox", s.consolePage(w, r, p, "inbox", "Inbox", v))
	return nil
}

// completePage is the console's one-click completion: it goes through the
// same checks and workflow update as the API, then back to the page the
// form was on with the outcome as a flash message.
func (s *server) completePage(w http.ResponseWriter, r *http.Request, p *principal) error {
	back := safeNext(r.PostForm.Get("return"))
	if back == "/" {
		back = "/inbox"
	}
	c, err := s.completeTask(r.Context(), p, r.PathValue("id"), r.PostForm.Get("outcome"), r.PostForm.Get("notes"))
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		s.setFlash(w, r, "bad", "Not completed: "+ae.Detail)
	case err != nil:
		s.Logger.Error("complete task", "task_id", r.PathValue("id"), "manager_id", p.ID, "error", err)
		s.setFlash(w, r, "bad", "Not completed: the server failed to answer. Please try again.")
	default:
		s.setFlash(w, r, "ok", "Done: "+c.Task.Title+" ("+c.Task.AccountName+")")
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// accountsView is the accounts page's data.
type accountsView struct {
	AccountList
	Stages, Tiers []string
	// More is the offset of the next page, or 0.
	More int
	// Query is the current filter with the given key/value pairs changed
	// (an empty value drops the key), for links.
	Query func(kv ...string) string
}

func (s *server) accountsPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	list, err := s.accountList(r.Context(), p, q)
	if err != nil {
		return err
	}
	if p.Role == activities.RoleSupervisor {
		if list.Managers, err = s.Store.TeamMembers(r.Context(), p.ID); err != nil {
			return err
		}
		list.Managers = append([]store.TeamMember{{ID: p.ID, Name: p.Name + " (you)"}}, list.Managers...)
	} else if p.managers() == nil {
		ms, err := s.Store.Managers(r.Context())
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Role == activities.RoleManager || m.Role == activities.RoleSupervisor {
				list.Managers = append(list.Managers, store.TeamMember{ID: m.ID, Name: m.Name, Role: m.Role})
			}
		}
	}
	v := accountsView{AccountList: list, Stages: accounts.Stages, Tiers: accounts.Tiers}
	if len(list.Accounts) == list.Limit {
		v.More = list.Offset + list.Limit
	}
	v.Query = func(kv ...string) string {
		nq := make(url.Values, len(q))
		for k, vs := range q {
			nq[k] = vs
		}
		nq.Del("offset")
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				nq.Del(kv[i])
			} else {
				nq.Set(kv[i], kv[i+1])
			}
		}
		return "/accounts?" + nq.Encode()
	}
	s.render(w, r, http.StatusOK, "accounts", s.consolePage(w, r, p, "accounts", "Accounts", v))
	return nil
}

// accountView is the account page's data.
type accountView struct {
	AccountDetail
	// Path is the stage ladder with where the account stands.
	Path []stageStep
}

type stageStep struct {
	Stage string
	State string // past | now | next
	Class string
}

var ladder = []string{"identify", "engage", "deepen", "maintain", "churn_recovery"}

func (s *server) accountPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.accountDetail(r.Context(), p, r.PathValue("id"), r.URL.Query())
	if err != nil {
		return err
	}
	v := accountView{AccountDetail: d}
	at := slices.Index(ladder, d.Account.Stage)
	for i, st := range ladder {
		step := stageStep{Stage: st, State: "next"}
		switch {
		case at < 0: // ended: the whole ladder is behind it
			step.State = "past"
		case i < at:
			step.State = "past"
		case i == at:
			step.State = "now"
			if st == "churn_recovery" {
				step.Class = "warn"
			}
		}
		if st == "churn_recovery" && at >= 0 && at < i {
			continue // only shown once the account is in it
		}
		v.Path = append(v.Path, step)
	}
	s.render(w, r, http.StatusOK, "account", s.consolePage(w, r, p, "accounts", d.Account.Name, v))
	return nil
}

func (s *server) escalationsPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	es, err := s.escalationList(r.Context(), p)
	if err != nil {
		return err
	}
	// The acknowledgement tasks shown with a form, for whoever may act.
	tasks := map[string]Task{}
	now := s.Now()
	for _, e := range es {
		if e.TaskID == "" || e.TaskState != store.TaskOpen {
			continue
		}
		t, err := s.Store.InboxTaskByID(r.Context(), e.TaskID)
		if err != nil {
			return err
		}
		tasks[e.TaskID] = newTask(t, p, now)
	}
	s.render(w, r, http.StatusOK, "escalations", s.consolePage(w, r, p, "escalations", "Escalations",
		struct {
			Escalations []store.EscalationItem
			Tasks       map[string]Task
		}{es, tasks}))
	return nil
}

func (s *server) outboxPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	items, err := s.outboxList(r.Context(), p, r.URL.Query())
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "outbox", s.consolePage(w, r, p, "outbox", "Outbox",
		struct {
			Items []store.OutboxItem
			Q     string
		}{items, r.URL.Query().Get("q")}))
	return nil
}

// errorView is the console's error page.
type errorView struct {
	Status  int
	Heading string
	Detail  string
}

// pageError shows a console error as a page: the same status and message
// the API would give, in words.
func (s *server) pageError(w http.ResponseWriter, r *http.Request, p *principal, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.Logger.Error("page failed", "method", r.Method, "path", r.URL.Path, "error", err)
		ae = &apiError{http.StatusInternalServerError, "internal", "Something went wrong on our side. The error is in the server's log; please try again."}
	}
	if ae.Status == http.StatusUnauthorized || p == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	headings := map[int]string{
		http.StatusBadRequest: "That request was not understood", http.StatusForbidden: "Not yours to see",
		http.StatusNotFound: "Not found", http.StatusConflict: "Already done",
		http.StatusInternalServerError: "Something went wrong",
	}
	v := errorView{Status: ae.Status, Heading: orDefault(headings[ae.Status], http.StatusText(ae.Status)), Detail: ae.Detail}
	s.render(w, r, ae.Status, "error", s.consolePage(w, r, p, "", v.Heading, v))
}

// notFoundPage answers any GET no route takes.
func (s *server) notFoundPage(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r)
	if err != nil || p == nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	s.pageError(w, r, p, errNotFound("There is no page at %s.", r.URL.Path))
}
