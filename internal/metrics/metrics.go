// Package metrics defines kamflow's Prometheus collectors on an injected
// registry (never the global one) and bridges the Temporal SDK's own metrics
// into the same registry.
//
// Counters here count what this process did; totals across workers come
// from summing in Prometheus. Levels (accounts by stage, open tasks) are not
// counters: they are read from PostgreSQL at scrape time, so they are right
// however many workers run.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics holds the collectors activities and the API update.
type Metrics struct {
	transitions     *prometheus.CounterVec
	escalations     *prometheus.CounterVec
	surveysSent     *prometheus.CounterVec
	surveysAnswered *prometheus.CounterVec
	visits          prometheus.Counter
	events          *prometheus.CounterVec
	taskCompletion  *prometheus.HistogramVec
}

// New registers kamflow's collectors on reg.
func New(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		transitions: f.NewCounterVec(prometheus.CounterOpts{
			Name: "kamflow_stage_transitions_total", Help: "Stage transitions recorded, by from and to stage.",
		}, []string{"from", "to"}),
		escalations: f.NewCounterVec(prometheus.CounterOpts{
			Name: "kamflow_escalations_total", Help: "Escalations raised, by level (1 supervisor, 2 senior management).",
		}, []string{"level"}),
		surveysSent: f.NewCounterVec(prometheus.CounterOpts{
			Name: "kamflow_surveys_sent_total", Help: "Surveys sent to customers, by kind (nps, csat).",
		}, []string{"kind"}),
		surveysAnswered: f.NewCounterVec(prometheus.CounterOpts{
			Name: "kamflow_surveys_answered_total", Help: "Surveys answered by customers, by kind (nps, csat).",
		}, []string{"kind"}),
		visits: f.NewCounter(prometheus.CounterOpts{
			Name: "kamflow_visits_scheduled_total", Help: "Visits booked in account managers' calendars.",
		}),
		events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "kamflow_events_ingested_total", Help: "Business events recorded, by kind and status (applied, rejected).",
		}, []string{"kind", "status"}),
		taskCompletion: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kamflow_task_completion_seconds",
			Help:    "Time from a task's creation to its completion, by task kind.",
			Buckets: []float64{60, 600, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400},
		}, []string{"kind"}),
	}
}

// StageTransition counts a recorded stage change.
func (m *Metrics) StageTransition(from, to string) {
	if from == "" {
		from = "none"
	}
	m.transitions.WithLabelValues(from, to).Inc()
}

// Escalated counts an escalation at level.
func (m *Metrics) Escalated(level int) { m.escalations.WithLabelValues(strconv.Itoa(level)).Inc() }

// SurveySent counts a survey sent.
func (m *Metrics) SurveySent(kind string) { m.surveysSent.WithLabelValues(kind).Inc() }

// SurveyAnswered counts a survey answered.
func (m *Metrics) SurveyAnswered(kind string) { m.surveysAnswered.WithLabelValues(kind).Inc() }

// VisitScheduled counts a booked visit.
func (m *Metrics) VisitScheduled() { m.visits.Inc() }

// EventIngested counts a recorded event.
func (m *Metrics) EventIngested(kind, status string) { m.events.WithLabelValues(kind, status).Inc() }

// TaskCompleted observes how long a task stayed open.
func (m *Metrics) TaskCompleted(kind string, open time.Duration) {
	m.taskCompletion.WithLabelValues(kind).Observe(open.Seconds())
}
