package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"golang.org/x/term"

	"github.com/kamflow/kamflow/internal/accounts"
)

// giveUpAfter is how many service failures in a row stop a bulk run.
const giveUpAfter = 3

// bulk returns the runner import and events share.
func (a *app) bulk(concurrency int, verb, desc string, total int) bulk {
	return bulk{
		concurrency: concurrency, timeout: a.timeout, stderr: a.stderr, verb: verb,
		progress: newProgress(a.stderr, total, desc),
		giveUp:   serviceDown, giveUpAfter: giveUpAfter,
	}
}

// serviceDown tells failures no row can cause: Temporal unreachable, or no
// answer in time (no worker polls the task queue).
func serviceDown(err error) bool {
	var unavailable *serviceerror.Unavailable
	var timeout *client.WorkflowUpdateServiceTimeoutOrCanceledError
	return errors.As(err, &unavailable) || errors.As(err, &timeout) || errors.Is(err, context.DeadlineExceeded)
}

// explain renders a row's failure on one line, saying what a timeout most
// likely means.
func (a *app) explain(err error) string {
	switch {
	case err == nil:
		return ""
	case serviceDown(err) && !errors.As(err, new(*serviceerror.Unavailable)):
		return fmt.Sprintf("no answer within %s: is a kamflow worker polling task queue %q? (%s)", a.timeout, a.taskQueue, oneLine(err))
	}
	return oneLine(err)
}

// outcome is what happened to one row of a bulk run.
type outcome struct {
	done     bool // false: never attempted (interrupted first)
	existing bool
	err      error
}

// bulk runs do over jobs grouped in lanes: at most concurrency lanes at
// once, the jobs of one lane in order (so one account's events arrive as
// the file lists them). A job is the rows one request carries. When ctx is
// cancelled (Ctrl-C) nothing new starts; requests already sent finish under
// their own timeout, so the summary knows exactly what was done.
type bulk struct {
	concurrency int
	timeout     time.Duration
	progress    progress
	stderr      io.Writer
	verb        string // "starts", "events" for the interrupt message
	// giveUp, when set, tells failures of the service from failures of a
	// row: after giveUpAfter of them in a row the run stops as on Ctrl-C,
	// rather than spend a timeout on every remaining row.
	giveUp      func(error) bool
	giveUpAfter int
}

// run returns each row's outcome (its job's) and, when the run gave up, why.
func (b bulk) run(ctx context.Context, n int, lanes [][][]int, do func(ctx context.Context, rows []int) (existing bool, err error)) ([]outcome, error) {
	out := make([]outcome, n)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inFlight int
		streak   int   // service failures in a row
		gaveUp   error // the last of them, once streak reached giveUpAfter
	)
	// dispatch ends on Ctrl-C or when the run gives up; requests already
	// sent carry on either way.
	dispatch, stop := context.WithCancel(ctx)
	defer stop()
	stopNotice := context.AfterFunc(ctx, func() {
		mu.Lock()
		k := inFlight
		mu.Unlock()
		b.progress.Interrupt(fmt.Sprintf("interrupted: waiting for %d %s in flight, starting nothing new (Ctrl-C again to quit at once)", k, b.verb))
	})
	defer stopNotice()
	sem := make(chan struct{}, b.concurrency)
lanes:
	for _, lane := range lanes {
		select {
		case sem <- struct{}{}:
		case <-dispatch.Done():
			break lanes
		}
		if dispatch.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func(lane [][]int) {
			defer func() { <-sem; wg.Done() }()
			for _, rows := range lane {
				if dispatch.Err() != nil {
					return
				}
				mu.Lock()
				inFlight++
				mu.Unlock()
				// The request outlives Ctrl-C: cutting it off would leave
				// us not knowing whether it happened.
				opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.timeout)
				existing, err := do(opCtx, rows)
				cancel()
				mu.Lock()
				inFlight--
				for _, row := range rows {
					out[row] = outcome{done: true, existing: existing, err: err}
				}
				switch {
				case err != nil && b.giveUp != nil && b.giveUp(err):
					if streak++; streak >= b.giveUpAfter && gaveUp == nil {
						gaveUp = err
						stop()
					}
				case err == nil:
					streak = 0
				}
				mu.Unlock()
				b.progress.Add(len(rows))
			}
		}(lane)
	}
	wg.Wait()
	b.progress.Finish()
	return out, gaveUp
}

// progress shows how far a bulk run is.
type progress interface {
	Add(n int)
	// Interrupt prints a notice without garbling the progress display.
	Interrupt(msg string)
	Finish()
}

// plainMin is the smallest run that prints plain progress lines: a small
// file is done before anyone reads them.
const plainMin = 100

// newProgress draws a bar on a terminal and prints a plain line at every
// tenth otherwise (logs and CI).
func newProgress(w io.Writer, total int, desc string) progress {
	if total == 0 {
		return &plainProgress{w: w, quiet: true}
	}
	if f, ok := w.(interface{ Fd() uintptr }); ok && term.IsTerminal(int(f.Fd())) {
		return &barProgress{w: w, bar: progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionFullWidth(),
		)}
	}
	return &plainProgress{w: w, total: total, desc: desc, start: time.Now(), quiet: total < plainMin}
}

type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

// The bar's own errors are write errors on a terminal; the run goes on
// regardless, so they are ignored here.
func (p *barProgress) Add(n int) { _ = p.bar.Add(n) }
func (p *barProgress) Finish()   { _ = p.bar.Finish() }
func (p *barProgress) Interrupt(msg string) {
	_ = p.bar.Clear()
	diag(p.w, "%s\n", msg)
}

type plainProgress struct {
	mu    sync.Mutex
	w     io.Writer
	total int
	done  int
	desc  string
	step  int // last tenth printed
	start time.Time
	quiet bool
}

func (p *plainProgress) Add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.quiet || p.total == 0 {
		return
	}
	if step := p.done * 10 / p.total; step > p.step {
		p.step = step
		diag(p.w, "%s: %d/%d (%d%%) in %s\n", p.desc, p.done, p.total, p.done*100/p.total, time.Since(p.start).Round(100*time.Millisecond))
	}
}

func (p *plainProgress) Finish() {}

func (p *plainProgress) Interrupt(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	diag(p.w, "%s\n", msg)
}

// singleRows is n lanes of one single-row job each: rows independent of
// each other, one request per row.
func singleRows(n int) [][][]int {
	lanes := make([][][]int, n)
	for i := range lanes {
		lanes[i] = [][]int{{i}}
	}
	return lanes
}

// tally adds a bulk run's outcomes to sum: rows never attempted, failed rows
// (line gives a row's line in the file), and the rows done, of which
// existing found their account already there.
func (a *app) tally(sum *importSummary, outs []outcome, line func(row int) int) (done, existing int) {
	for i, o := range outs {
		switch {
		case !o.done:
			sum.NotAttempted++
		case o.err != nil:
			sum.Errors = append(sum.Errors, accounts.RowError{Line: line(i), Reason: a.explain(o.err)})
		case o.existing:
			existing++
		default:
			done++
		}
	}
	return done, existing
}
