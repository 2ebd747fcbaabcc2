package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/accounts"
	"github.com/kamflow/kamflow/internal/store"
)

// The customer's survey page. It needs no sign-in: the link's token is the
// key, works once and until the survey is due. Only the token's hash is
// stored, so the page looks the survey up by hash. No page of it sends a
// Referer (the token is in the URL) and none is cached.

// Survey tokens are base64url HMACs (activities.SurveyToken); anything else
// is refused before it reaches the database.
var surveyTokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)

const maxComment = 2000

// surveyView is the survey page's data.
type surveyView struct {
	Token       string
	Kind        string // nps | csat
	AccountName string
	ContactName string
	DueAt       time.Time
	Error       string
	Score       int // the score chosen before an error, or -1
	Comment     string
}

// surveyDoneView is the page after answering, or instead of the form.
type surveyDoneView struct {
	Heading string
	Text    string
	Icon    string // ok | info | bad
}

func (s *server) surveyPage(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	sv, acc, ok := s.loadSurvey(w, r, token)
	if !ok {
		return
	}
	now := s.Now()
	switch {
	case sv.AnsweredAt != nil:
		s.surveyDone(w, r, http.StatusOK, surveyDoneView{Icon: "ok", Heading: "You have already answered",
			Text: "Thank you: we received your answer on " + sv.AnsweredAt.In(s.location()).Format("2 January 2006") + ". There is nothing more to do."})
	case !now.Before(sv.DueAt):
		s.surveyDone(w, r, http.StatusGone, surveyExpired)
	default:
		s.surveyForm(w, r, http.StatusOK, surveyView{Token: token, Kind: sv.Kind, AccountName: acc.Name,
			ContactName: acc.ContactName, DueAt: sv.DueAt, Score: -1})
	}
}

var (
	surveyExpired = surveyDoneView{Icon: "info", Heading: "This survey has closed",
		Text: "The link was valid for a limited time and has expired. Thank you all the same: your account team is always glad to hear from you directly."}
	surveyUnknown = surveyDoneView{Icon: "bad", Heading: "This link does not work",
		Text: "Please check that the whole link was copied from the e-mail. If it still does not work, your account team will be glad to help."}
)

// loadSurvey finds the survey and its account, answering a friendly page
// itself when it cannot.
func (s *server) loadSurvey(w http.ResponseWriter, r *http.Request, token string) (store.Survey, store.Account, bool) {
	if !surveyTokenPattern.MatchString(token) {
		s.surveyDone(w, r, http.StatusNotFound, surveyUnknown)
		return store.Survey{}, store.Account{}, false
	}
	sv, err := s.Store.SurveyByTokenHash(r.Context(), activities.TokenHash(token))
	if errors.Is(err, store.ErrNotFound) {
		s.surveyDone(w, r, http.StatusNotFound, surveyUnknown)
		return sv, store.Account{}, false
	}
	var acc store.Account
	if err == nil {
		acc, err = s.Store.Account(r.Context(), sv.AccountID)
	}
	if err != nil {
		s.Logger.Error("survey page", "error", err)
		s.surveyDone(w, r, http.StatusInternalServerError, surveyDoneView{Icon: "bad", Heading: "Something went wrong",
			Text: "We could not open your survey just now. Please try the link again in a few minutes."})
		return sv, acc, false
	}
	return sv, acc, true
}

func (s *server) surveyAnswer(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	sv, acc, ok := s.loadSurvey(w, r, token)
	if !ok {
		return
	}
	view := surveyView{Token: token, Kind: sv.Kind, AccountName: acc.Name, ContactName: acc.ContactName, DueAt: sv.DueAt, Score: -1}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		view.Error = "Your answer could not be read (it may be too long). Please try again."
		s.surveyForm(w, r, http.StatusBadRequest, view)
		return
	}
	comment := strings.TrimSpace(r.PostForm.Get("comment"))
	view.Comment = comment
	lo, hi := 0, 10
	if sv.Kind == "csat" {
		lo, hi = 1, 5
	}
	score, err := strconv.Atoi(r.PostForm.Get("score"))
	switch {
	case err != nil || score < lo || score > hi:
		view.Error = "Please choose a score from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi) + "."
	case !utf8.ValidString(comment) || utf8.RuneCountInString(comment) > maxComment:
		view.Score = score
		view.Error = "Please keep the comment under " + strconv.Itoa(maxComment) + " characters."
	}
	if view.Error != "" {
		s.surveyForm(w, r, http.StatusBadRequest, view)
		return
	}
	resp := store.Response{Comment: comment}
	if sv.Kind == "csat" {
		resp.CSAT = &score
	} else {
		resp.NPS = &score
	}
	answered, err := s.Store.AnswerSurvey(r.Context(), activities.TokenHash(token), resp, s.Now())
	switch {
	case errors.Is(err, store.ErrSurveyAnswered):
		s.surveyDone(w, r, http.StatusConflict, surveyDoneView{Icon: "ok", Heading: "You have already answered",
			Text: "Thank you: we already have your answer. There is nothing more to do."})
		return
	case errors.Is(err, store.ErrSurveyExpired):
		s.surveyDone(w, r, http.StatusGone, surveyExpired)
		return
	case errors.Is(err, store.ErrNotFound):
		s.surveyDone(w, r, http.StatusNotFound, surveyUnknown)
		return
	case err != nil:
		s.Logger.Error("answer survey", "survey_id", sv.ID, "error", err)
		view.Score = score
		view.Error = "We could not save your answer just now. Please try again in a moment."
		s.surveyForm(w, r, http.StatusInternalServerError, view)
		return
	}
	if s.Metrics != nil {
		s.Metrics.SurveyAnswered(sv.Kind)
	}
	s.signalAnswer(r.Context(), answered)
	s.surveyDone(w, r, http.StatusOK, surveyDoneView{Icon: "ok", Heading: "Thank you!",
		Text: "Your answer has reached your account team. It helps us serve you better."})
}

// signalAnswer tells the account's workflow about the answer, which is
// already stored: a few quick retries, detached from the customer's
// request so closing the tab does not cancel them. If all fail, the answer
// still counts (scoring reads survey_responses) and the error is logged
// with the survey id for ops to resend.
func (s *server) signalAnswer(ctx context.Context, sv store.Survey) {
	r := sv.Response
	e := activities.Event{
		ExternalID: "survey:" + sv.ID, Kind: activities.EventSurveyResponse, At: r.AnsweredAt,
		SurveyID: sv.ID, NPS: r.NPS, CSAT: r.CSAT, Note: r.Comment,
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	var err error
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if err = accounts.SendEvent(ctx, s.Temporal, sv.AccountID, e); err == nil {
			return
		}
		if attempt == 4 || errors.Is(err, accounts.ErrNotFound) || errors.Is(err, accounts.ErrEnded) {
			break // out of attempts, or no retry makes the account exist or run again
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			wait *= 3
			continue
		}
		break
	}
	if errors.Is(err, accounts.ErrEnded) {
		// A customer may answer after the account ended: the answer is kept
		// and counts, and there is no workflow left to tell.
		s.Logger.Info("survey answered after the account ended", "survey_id", sv.ID, "account_id", sv.AccountID)
		return
	}
	s.Logger.Error("survey answer stored but not signalled to the account", "survey_id", sv.ID, "account_id", sv.AccountID, "error", err)
}

func (s *server) surveyForm(w http.ResponseWriter, r *http.Request, status int, v surveyView) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, r, status, "survey", &page{Title: "A quick question", Data: v})
}

func (s *server) surveyDone(w http.ResponseWriter, r *http.Request, status int, v surveyDoneView) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, r, status, "survey_done", &page{Title: v.Heading, Data: v})
}
