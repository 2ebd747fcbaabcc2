// Package activities holds everything in kamflow's lifecycle that touches the
// world: PostgreSQL writes, scoring reads, visit scheduling, surveys and
// escalations. Each activity is idempotent by a business key that the
// workflow derives, so a retry finds what the first attempt wrote and
// returns it instead of writing again.
package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/kamflow/kamflow/internal/metrics"
	"github.com/kamflow/kamflow/internal/policy"
	"github.com/kamflow/kamflow/internal/store"
)

// Activities holds the dependencies of every activity. Workflows call its
// methods through a nil *Activities; the worker registers a real one.
type Activities struct {
	Store *store.Store
	// Policy returns the policy in force; the worker may reload it.
	Policy  func() policy.Policy
	Metrics *metrics.Metrics
	// PublicURL prefixes links sent to customers, e.g. https://kam.example.com.
	PublicURL string
	// SurveySecret keys the HMAC that turns a survey's id into its token, so
	// a retried SendSurvey sends the same link and only its hash is stored.
	SurveySecret []byte
	// Webhook is set when KAM_ALERT_WEBHOOK is: escalations then queue a
	// call to it beside the mail.
	Webhook bool
	// Now is the clock for what the workflow does not timestamp itself.
	Now func() time.Time
}

// LoadPolicy hands the workflow the policy in force: workflows see policy
// values only through this result, recorded in their history.
func (a *Activities) LoadPolicy(_ context.Context) (policy.Policy, error) {
	return a.Policy(), nil
}

// invalid marks input that no retry can fix.
func invalid(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidInput, err)
}

// notFoundIsInvalid turns a missing row into a non-retryable error: waiting
// will not make an unknown manager appear.
func notFoundIsInvalid(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return invalid(err)
	}
	return err
}
