package api

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/kamflow/kamflow/internal/store"
)

// Me is who the caller is and whom they see.
type Me struct {
	ID           string             `json:"id"`
	Name         string             `json:"name"`
	Email        string             `json:"email"`
	Role         string             `json:"role"`
	SupervisorID string             `json:"supervisor_id,omitempty"`
	Team         []store.TeamMember `json:"team"`
}

func (s *server) apiMe(w http.ResponseWriter, r *http.Request, p *principal) error {
	me := Me{ID: p.ID, Name: p.Name, Email: p.Email, Role: p.Role, SupervisorID: p.SupervisorID, Team: []store.TeamMember{}}
	if len(p.Team) > 0 {
		team, err := s.Store.TeamMembers(r.Context(), p.ID)
		if err != nil {
			return err
		}
		me.Team = team
	}
	writeJSON(w, http.StatusOK, me)
	return nil
}

func (s *server) apiTasks(w http.ResponseWriter, r *http.Request, p *principal) error {
	in, err := s.inbox(r.Context(), p, r.URL.Query())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, in)
	return nil
}

// CompleteRequest is the body of POST /api/v1/tasks/{id}/complete.
type CompleteRequest struct {
	Outcome string `json:"outcome"`
	Notes   string `json:"notes"`
}

func (s *server) apiCompleteTask(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req CompleteRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	c, err := s.completeTask(r.Context(), p, r.PathValue("id"), req.Outcome, req.Notes)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *server) apiAccounts(w http.ResponseWriter, r *http.Request, p *principal) error {
	list, err := s.accountList(r.Context(), p, r.URL.Query())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *server) apiAccount(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, err := s.accountDetail(r.Context(), p, r.PathValue("id"), r.URL.Query())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *server) apiEscalations(w http.ResponseWriter, r *http.Request, p *principal) error {
	es, err := s.escalationList(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"escalations": es})
	return nil
}

func (s *server) apiOutbox(w http.ResponseWriter, r *http.Request, p *principal) error {
	items, err := s.outboxList(r.Context(), p, r.URL.Query())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": items})
	return nil
}

// The calendar feed covers the recent past (visits still to report on) and
// the coming months; calendar apps re-fetch it, so it need not hold more.
const (
	icsPast   = 30 * 24 * time.Hour
	icsFuture = 180 * 24 * time.Hour
)

// apiVisitsICS is the caller's visits as an iCalendar feed. Lines end in
// CRLF as RFC 5545 requires (the library's default is LF), and it folds
// long lines on UTF-8 boundaries, so Chinese account names survive.
func (s *server) apiVisitsICS(w http.ResponseWriter, r *http.Request, p *principal) error {
	now := s.Now()
	visits, err := s.Store.Visits(r.Context(), p.ID, now.Add(-icsPast), now.Add(icsFuture))
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(visits))
	for _, v := range visits {
		ids = append(ids, v.AccountID)
	}
	names, err := s.Store.AccountNames(r.Context(), ids)
	if err != nil {
		return err
	}
	cal := ics.NewCalendarFor("kamflow")
	cal.SetMethod(ics.MethodPublish)
	cal.SetName("kamflow visits: " + orDefault(p.Name, p.ID))
	cal.SetXWRCalName("kamflow visits: " + orDefault(p.Name, p.ID))
	cal.SetRefreshInterval("PT1H")
	sort.SliceStable(visits, func(i, j int) bool { return visits[i].StartsAt.Before(visits[j].StartsAt) })
	base := ""
	if s.Activities != nil {
		base = s.Activities.PublicURL
	}
	for _, v := range visits {
		ev := cal.AddEvent(v.ID + "@kamflow")
		ev.SetDtStampTime(now)
		ev.SetStartAt(v.StartsAt)
		ev.SetEndAt(v.EndsAt)
		name := orDefault(names[v.AccountID], v.AccountID)
		ev.SetSummary(join(": ", "Visit "+name, v.Purpose))
		ev.SetDescription(fmt.Sprintf("%s (%s). Report on it in kamflow: task %s.", name, v.AccountID, v.TaskID))
		if base != "" {
			ev.SetURL(base + "/accounts/" + v.AccountID)
		}
		switch v.State {
		case "cancelled":
			ev.SetStatus(ics.ObjectStatusCancelled)
		default:
			ev.SetStatus(ics.ObjectStatusConfirmed)
		}
	}
	var buf bytes.Buffer
	if err := cal.SerializeTo(&buf, ics.WithNewLineWindows); err != nil {
		return fmt.Errorf("encode calendar of %s: %w", p.ID, err)
	}
	writeFile(w, "text/calendar; charset=utf-8", "inline", "kamflow-visits.ics", "private, no-cache", &buf)
	return nil
}
