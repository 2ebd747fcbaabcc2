package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Survey is an NPS or CSAT survey sent to an account's contact. The link
// carries a random token; only its hash is stored, so the table cannot be
// used to answer on someone's behalf.
type Survey struct {
	ID         string     `db:"id" json:"id"`
	AccountID  string     `db:"account_id" json:"account_id"`
	Kind       string     `db:"kind" json:"kind"` // nps | csat
	TokenHash  []byte     `db:"token_hash" json:"-"`
	SentAt     time.Time  `db:"sent_at" json:"sent_at"`
	DueAt      time.Time  `db:"due_at" json:"due_at"`
	AnsweredAt *time.Time `db:"answered_at" json:"answered_at,omitempty"`
	Recipient  string     `db:"recipient" json:"recipient"`
	// Response is filled by AnswerSurvey and SurveyByTokenHash once answered.
	Response *Response `db:"-" json:"response,omitempty"`
}

// Response is a survey's answer.
type Response struct {
	SurveyID   string    `db:"survey_id" json:"survey_id"`
	NPS        *int      `db:"nps" json:"nps,omitempty"`
	CSAT       *int      `db:"csat" json:"csat,omitempty"`
	Comment    string    `db:"comment" json:"comment,omitempty"`
	AnsweredAt time.Time `db:"answered_at" json:"answered_at"`
}

const surveyCols = `id, account_id, kind, token_hash, sent_at, due_at, answered_at, recipient`

const (
	// createSurveySQL links the survey_response events already recorded as
	// this survey's answer (see insertEventsSQL), should any have come
	// first.
	createSurveySQL = `
WITH created AS (
    INSERT INTO surveys (id, account_id, kind, token_hash, sent_at, due_at, recipient)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (id) DO NOTHING
    RETURNING ` + surveyCols + `
), linked AS (
    UPDATE account_events e SET survey_id = c.id
    FROM created c
    WHERE e.account_id = c.account_id AND e.external_id IN (c.id, 'survey:' || c.id)
      AND e.kind = 'survey_response' AND e.survey_id IS NULL
)
SELECT * FROM created`
	surveySQL            = `SELECT ` + surveyCols + ` FROM surveys WHERE id = $1`
	surveyByTokenHashSQL = `SELECT ` + surveyCols + ` FROM surveys WHERE token_hash = $1`
	openSurveysSQL       = `SELECT ` + surveyCols + ` FROM surveys
WHERE account_id = $1 AND answered_at IS NULL AND due_at > $2 ORDER BY sent_at, id`
	responseSQL = `SELECT survey_id, nps, csat, comment, answered_at FROM survey_responses WHERE survey_id = $1`
)

// CreateSurvey stores a survey once per id and returns the stored row. A
// retry keeps the first token hash: the link already mailed stays valid.
// Another survey with the same token hash is an error.
func (s *Store) CreateSurvey(ctx context.Context, sv Survey) (Survey, error) {
	var out Survey
	err := insertOrGet(ctx, s.db, &out, createSurveySQL,
		[]any{sv.ID, sv.AccountID, sv.Kind, sv.TokenHash, sv.SentAt, sv.DueAt, sv.Recipient}, surveySQL, sv.ID)
	if err != nil {
		return Survey{}, fmt.Errorf("create survey %s: %w", sv.ID, err)
	}
	return out, nil
}

// SurveyByTokenHash finds the survey a link belongs to, with its response
// when answered, or ErrNotFound.
func (s *Store) SurveyByTokenHash(ctx context.Context, hash []byte) (Survey, error) {
	var sv Survey
	if err := s.db.GetContext(ctx, &sv, surveyByTokenHashSQL, hash); err != nil {
		return Survey{}, notFound(err, "survey by token")
	}
	if sv.AnsweredAt != nil {
		var r Response
		if err := s.db.GetContext(ctx, &r, responseSQL, sv.ID); err != nil {
			return Survey{}, notFound(err, "response to survey "+sv.ID)
		}
		sv.Response = &r
	}
	return sv, nil
}

// OpenSurveys returns an account's surveys that can still be answered at
// now, oldest first.
func (s *Store) OpenSurveys(ctx context.Context, accountID string, now time.Time) ([]Survey, error) {
	out := []Survey{}
	if err := s.db.SelectContext(ctx, &out, openSurveysSQL, accountID, now); err != nil {
		return nil, fmt.Errorf("open surveys of account %s: %w", accountID, err)
	}
	return out, nil
}

// Single use and expiry are decided by the UPDATE's WHERE, atomically: of
// two concurrent answers exactly one matches.
const answerSurveySQL = `
WITH s AS (
    UPDATE surveys SET answered_at = $2
    WHERE token_hash = $1 AND answered_at IS NULL AND due_at > $2
    RETURNING ` + surveyCols + `
), r AS (
    INSERT INTO survey_responses (survey_id, nps, csat, comment, answered_at)
    SELECT id, $3, $4, $5, $2 FROM s
)
SELECT * FROM s`

// AnswerSurvey records the answer given through a survey link at now. A
// link works once (ErrSurveyAnswered after) and until the survey is due
// (ErrSurveyExpired after); an unknown link is ErrNotFound.
func (s *Store) AnswerSurvey(ctx context.Context, hash []byte, r Response, now time.Time) (Survey, error) {
	var sv Survey
	err := s.db.GetContext(ctx, &sv, answerSurveySQL, hash, now, r.NPS, r.CSAT, r.Comment)
	if err == nil {
		r.SurveyID, r.AnsweredAt = sv.ID, *sv.AnsweredAt
		sv.Response = &r
		return sv, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Survey{}, fmt.Errorf("answer survey: %w", err)
	}
	// The link did not qualify: say why.
	if err := s.db.GetContext(ctx, &sv, surveyByTokenHashSQL, hash); err != nil {
		return Survey{}, notFound(err, "answer survey")
	}
	if sv.AnsweredAt != nil {
		return Survey{}, fmt.Errorf("answer survey %s: %w", sv.ID, ErrSurveyAnswered)
	}
	return Survey{}, fmt.Errorf("answer survey %s: %w on %s", sv.ID, ErrSurveyExpired, sv.DueAt.UTC().Format(time.DateOnly))
}
