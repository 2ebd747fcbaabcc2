package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/sync/errgroup"
)

// The ceiling workflows do nothing but what Temporal itself must do for a
// kamflow account, so the gap between them and kamflow is kamflow's own
// cost: its activities' SQL, its payloads, its extra workflow tasks.
const (
	emptyWorkflow  = "BenchEmpty"
	noopWorkflow   = "BenchNoopActivities"
	waiterWorkflow = "BenchWaiter"
	signalName     = "bench-signal"
)

// benchEmpty is B0's workflow: a start and a completion, nothing between.
func benchEmpty(ctx workflow.Context) error { return nil }

// benchNoops runs n no-op activities one after another, as an onboarding
// runs its activities up to the first score.
func benchNoops(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second},
	})
	for range n {
		if err := workflow.ExecuteActivity(ctx, noopActivity).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// noopActivity is the cheapest activity Temporal can run.
func noopActivity(ctx context.Context) error { return nil }

// benchWaiter blocks until it has received n signals: S0's receiver.
func benchWaiter(ctx workflow.Context, n int) error {
	ch := workflow.GetSignalChannel(ctx, signalName)
	for range n {
		var v int
		ch.Receive(ctx, &v)
	}
	return nil
}

// ceilingWorker runs the ceiling workflows in this process on taskQueue
// with the same SDK worker options the kamflow worker uses, so ceiling and
// kamflow differ in the work done, not in how the worker polls.
func ceilingWorker(c client.Client, taskQueue string, opts worker.Options) (stop func(), err error) {
	w := worker.New(c, taskQueue, opts)
	w.RegisterWorkflowWithOptions(benchEmpty, workflow.RegisterOptions{Name: emptyWorkflow})
	w.RegisterWorkflowWithOptions(benchNoops, workflow.RegisterOptions{Name: noopWorkflow})
	w.RegisterWorkflowWithOptions(benchWaiter, workflow.RegisterOptions{Name: waiterWorkflow})
	w.RegisterActivity(noopActivity)
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start ceiling worker on %s: %w", taskQueue, err)
	}
	return w.Stop, nil
}

// closedLoop runs total calls of do from n concurrent clients, each
// starting its next call when the previous one returned, and returns how
// long all of them took.
func closedLoop(ctx context.Context, n, total int, do func(ctx context.Context, i int) error) (time.Duration, error) {
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	start := time.Now()
	for range n {
		g.Go(func() error {
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return nil
				}
				if err := do(ctx, i); err != nil {
					return err
				}
			}
		})
	}
	err := g.Wait()
	return time.Since(start), err
}

// runWorkflows is B0 and B1: total workflows of type wf, each started and
// awaited by one of n clients; it returns workflows per second.
func runWorkflows(ctx context.Context, c client.Client, taskQueue, prefix string, n, total int, wf string, args ...any) (float64, error) {
	took, err := closedLoop(ctx, n, total, func(ctx context.Context, i int) error {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: fmt.Sprintf("%s-%d", prefix, i), TaskQueue: taskQueue,
		}, wf, args...)
		if err != nil {
			return fmt.Errorf("start %s %d: %w", wf, i, err)
		}
		if err := run.Get(ctx, nil); err != nil {
			return fmt.Errorf("%s %d: %w", wf, i, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return float64(total) / took.Seconds(), nil
}

// runSignals is S0: accounts waiting workflows, perAccount signals each,
// sent as `starter events` sends them (one lane per workflow, n lanes at
// once), timed from the first signal until every workflow has received
// all of its signals. It returns signals per second.
func runSignals(ctx context.Context, c client.Client, meter cpuMeter, taskQueue, prefix string, n, accounts, perAccount int) (float64, cpuSample, error) {
	runs := make([]client.WorkflowRun, accounts)
	for i := range accounts {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: fmt.Sprintf("%s-%d", prefix, i), TaskQueue: taskQueue,
		}, waiterWorkflow, perAccount)
		if err != nil {
			return 0, cpuSample{}, fmt.Errorf("start waiter %d: %w", i, err)
		}
		runs[i] = run
	}
	// Let every waiter finish its first workflow task, so S0 times the
	// signals, not the starts.
	if err := waitStarted(ctx, c, runs); err != nil {
		return 0, cpuSample{}, err
	}
	c0 := meter.sample(0)
	start := time.Now()
	_, err := closedLoop(ctx, n, accounts, func(ctx context.Context, i int) error {
		for k := range perAccount {
			if err := c.SignalWorkflow(ctx, runs[i].GetID(), "", signalName, k); err != nil {
				return fmt.Errorf("signal waiter %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, cpuSample{}, err
	}
	for i, run := range runs {
		if err := run.Get(ctx, nil); err != nil {
			return 0, cpuSample{}, fmt.Errorf("waiter %d: %w", i, err)
		}
	}
	return float64(accounts*perAccount) / time.Since(start).Seconds(), meter.sample(0).sub(c0), nil
}

// waitStarted waits until each run's first workflow task has completed.
func waitStarted(ctx context.Context, c client.Client, runs []client.WorkflowRun) error {
	var mu sync.Mutex
	var errs []error
	_, err := closedLoop(ctx, 8, len(runs), func(ctx context.Context, i int) error {
		for {
			d, err := c.DescribeWorkflowExecution(ctx, runs[i].GetID(), runs[i].GetRunID())
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return nil
			}
			if d.GetWorkflowExecutionInfo().GetHistoryLength() >= 4 {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	return errors.Join(append(errs, err)...)
}

// sdkFloor measures what the Go SDK alone keeps per cached workflow: n
// waiting no-op workflows on a worker of their own in this process, heap
// and stacks in use after a GC, before and after.
func sdkFloor(ctx context.Context, c client.Client, opts worker.Options, n int) (kib float64, err error) {
	tq := "bench-floor-" + randomSuffix()
	stop, err := ceilingWorker(c, tq, opts)
	if err != nil {
		return 0, err
	}
	defer stop()
	var before, after runtime.MemStats
	// Twice: the first cycle's finalizers free more on the second.
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	runs := make([]client.WorkflowRun, n)
	if _, err := closedLoop(ctx, 16, n, func(ctx context.Context, i int) error {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("%s-%d", tq, i), TaskQueue: tq}, waiterWorkflow, 1)
		runs[i] = run
		return err
	}); err != nil {
		return 0, fmt.Errorf("start waiters: %w", err)
	}
	if err := waitStarted(ctx, c, runs); err != nil {
		return 0, err
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
	// Let them finish, so they leave the cache (and the next reading) now.
	if _, err := closedLoop(ctx, 16, n, func(ctx context.Context, i int) error {
		if err := c.SignalWorkflow(ctx, runs[i].GetID(), runs[i].GetRunID(), signalName, 0); err != nil {
			return err
		}
		return runs[i].Get(ctx, nil)
	}); err != nil {
		return 0, fmt.Errorf("finish waiters: %w", err)
	}
	return grown / float64(n) / 1024, nil
}
