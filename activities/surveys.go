package activities

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/kamflow/kamflow/internal/store"
)

// SendSurveyInput asks the account's contact for an NPS or CSAT answer.
type SendSurveyInput struct {
	Key       string    `json:"key"`
	AccountID string    `json:"account_id"`
	Kind      string    `json:"kind"` // nps or csat
	At        time.Time `json:"at"`
	Due       time.Time `json:"due"`
}

// SendSurvey records the survey and queues its link for the contact. The
// token is derived from the survey's key with a secret, so a retry sends the
// same link, and only the token's hash is stored.
func (a *Activities) SendSurvey(ctx context.Context, in SendSurveyInput) error {
	if in.Kind != "nps" && in.Kind != "csat" {
		return invalid(fmt.Errorf("survey kind %q: want nps or csat", in.Kind))
	}
	acc, err := a.Store.Account(ctx, in.AccountID)
	if err != nil {
		return notFoundIsInvalid(fmt.Errorf("survey %s: account %s: %w", in.Key, in.AccountID, err))
	}
	token := SurveyToken(a.SurveySecret, in.Key)
	_, err = a.Store.CreateSurvey(ctx, store.Survey{
		ID: in.Key, AccountID: in.AccountID, Kind: in.Kind, TokenHash: TokenHash(token),
		SentAt: in.At, DueAt: in.Due, Recipient: acc.ContactEmail,
	})
	if err != nil {
		return fmt.Errorf("create survey %s: %w", in.Key, err)
	}
	question := "How likely are you to recommend us to a colleague (0-10)?"
	if in.Kind == "csat" {
		question = "How satisfied are you with our service so far (1-5)?"
	}
	link := a.PublicURL + "/s/" + token
	if acc.ContactEmail != "" {
		_, err = a.Store.EnqueueMail(ctx, store.Mail{
			ID: in.Key + ":mail", Channel: store.ChannelMail, Recipient: acc.ContactEmail,
			Subject: "A quick question from your account team",
			Body: fmt.Sprintf("Dear %s,\n\n%s\nAnswer here (one click, no sign-in): %s\nThe link works once, until %s.\n",
				orName(acc.ContactName, acc.Name), question, link, in.Due.Format("2 Jan 2006")),
			CreatedAt: in.At,
		})
		if err != nil {
			return fmt.Errorf("queue survey mail %s: %w", in.Key, err)
		}
	}
	if a.Metrics != nil {
		a.Metrics.SurveySent(in.Kind)
	}
	return nil
}

// SurveyToken is the unguessable token of a survey: HMAC-SHA256 of its key.
// It is a function, not a method, so the worker does not register it as an
// activity.
func SurveyToken(secret []byte, key string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(key))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// TokenHash is what the record keeps of a token: a leaked table holds no link.
func TokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

func orName(names ...string) string {
	for _, n := range names {
		if n != "" {
			return n
		}
	}
	return "customer"
}
