package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/kamflow/kamflow/internal/scoring"
	"github.com/kamflow/kamflow/internal/store"
)

// ScoreInput names the account and the moment to score it at.
type ScoreInput struct {
	Key       string    `json:"key"`
	AccountID string    `json:"account_id"`
	At        time.Time `json:"at"`
}

// ScoreAccount loads the account's facts, runs the pure model and records the
// result under Key. A retry recomputes from the same facts as of At and the
// insert is keyed, so one score row stands per key.
func (a *Activities) ScoreAccount(ctx context.Context, in ScoreInput) (scoring.Result, error) {
	facts, err := a.Store.Facts(ctx, in.AccountID, in.At)
	if err != nil {
		return scoring.Result{}, fmt.Errorf("load facts of %s: %w", in.AccountID, err)
	}
	res := scoring.Score(a.Policy().Scoring, facts)
	if err := a.Store.InsertScore(ctx, store.ScoreRow(in.Key, in.AccountID, in.At, res)); err != nil {
		return scoring.Result{}, fmt.Errorf("record score %s: %w", in.Key, err)
	}
	return res, nil
}
