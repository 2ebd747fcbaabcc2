// Package drills holds kamflow's reliability and security drills. They are
// tests only: each runs the real worker and starter binaries against a real
// Temporal server and a real PostgreSQL, breaks something on purpose (a
// SIGKILLed worker, a SIGKILLed `worker --dev`, a stopped database, a second
// worker on the same queue, a hostile reader of the Temporal history) and
// then proves with SQL, the Temporal API and the processes' own output that
// nothing was lost, nothing was done twice and nothing leaked.
//
// The drills never link go.temporal.io/server: the dev server they use is
// the one `make test` runs (scripts/with-dev-stack.sh) or one started from
// the worker binary, so this package builds in seconds.
package drills
