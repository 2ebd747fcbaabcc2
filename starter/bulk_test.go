package main

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBulkBoundsConcurrencyAndKeepsLaneOrder(t *testing.T) {
	// Six lanes of five jobs of two rows: lane l holds rows l, l+6, l+12 ...
	const n = 60
	lanes := make([][][]int, 6)
	for i := 0; i < n; i += 12 {
		for l := range 6 {
			lanes[l] = append(lanes[l], []int{i + l, i + l + 6})
		}
	}
	var (
		running, peak atomic.Int32
		mu            sync.Mutex
		order         = map[int][]int{} // lane -> rows in the order they ran
	)
	var errb bytes.Buffer
	b := bulk{concurrency: 3, timeout: time.Second, stderr: &errb, verb: "starts", progress: newProgress(&errb, n, "test")}
	outs, gaveUp := b.run(context.Background(), n, lanes, func(ctx context.Context, job []int) (bool, error) {
		row := job[0]
		cur := running.Add(1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		order[row%6] = append(order[row%6], job...)
		mu.Unlock()
		running.Add(-1)
		if row == 13 {
			return false, errors.New("boom")
		}
		return row%2 == 0, nil
	})
	require.NoError(t, gaveUp)
	require.LessOrEqual(t, peak.Load(), int32(3))
	for lane, rows := range order {
		require.Equal(t, slices.Concat(lanes[lane]...), rows, "lane %d ran in file order", lane)
	}
	for i, o := range outs {
		require.True(t, o.done, "row %d", i)
		if i == 13 || i == 19 { // both rows of the failed job
			require.EqualError(t, o.err, "boom")
			continue
		}
		require.NoError(t, o.err)
		require.Equal(t, i%2 == 0, o.existing, "row %d has its job's outcome", i)
	}
}

func TestBulkInterruptFinishesInFlightAndStartsNothingNew(t *testing.T) {
	const n = 50
	lanes := singleRows(n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errb bytes.Buffer
	b := bulk{concurrency: 2, timeout: 5 * time.Second, stderr: &errb, verb: "starts", progress: newProgress(&errb, n, "test")}
	var started atomic.Int32
	outs, gaveUp := b.run(ctx, n, lanes, func(opCtx context.Context, _ []int) (bool, error) {
		if started.Add(1) == 4 {
			cancel() // Ctrl-C while this request is in flight
		}
		time.Sleep(20 * time.Millisecond)
		// The request itself is not cut off by the interrupt.
		return false, opCtx.Err()
	})
	require.NoError(t, gaveUp)
	done, notAttempted := 0, 0
	for _, o := range outs {
		if o.done {
			require.NoError(t, o.err, "requests in flight finish normally")
			done++
		} else {
			notAttempted++
		}
	}
	require.Equal(t, int(started.Load()), done)
	require.LessOrEqual(t, done, 5, "at most the in-flight ones finish after the interrupt")
	require.Equal(t, n, done+notAttempted)
	require.Contains(t, errb.String(), "interrupted: waiting for")
}

func TestPlainProgress(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, 200, "importing")
	for range 200 {
		p.Add(1)
	}
	p.Finish()
	require.Equal(t, 10, bytes.Count(b.Bytes(), []byte("\n")), b.String())
	require.Contains(t, b.String(), "importing: 20/200 (10%) in ")
	require.Contains(t, b.String(), "importing: 200/200 (100%) in ")

	b.Reset()
	p = newProgress(&b, 20, "importing")
	for range 20 {
		p.Add(1)
	}
	require.Empty(t, b.String(), "small runs print no progress lines")
}

var errDown = errors.New("service down")

func TestBulkGivesUpWhenTheServiceKeepsFailing(t *testing.T) {
	const n = 40
	lanes := singleRows(n)
	var errb bytes.Buffer
	b := bulk{concurrency: 2, timeout: time.Second, stderr: &errb, verb: "starts", progress: newProgress(&errb, n, "test"),
		giveUp: func(err error) bool { return errors.Is(err, errDown) }, giveUpAfter: 3}

	outs, gaveUp := b.run(context.Background(), n, lanes, func(context.Context, []int) (bool, error) {
		time.Sleep(time.Millisecond)
		return false, errDown
	})
	require.ErrorIs(t, gaveUp, errDown)
	done := 0
	for _, o := range outs {
		if o.done {
			done++
		}
	}
	require.GreaterOrEqual(t, done, 3)
	require.LessOrEqual(t, done, 4, "the in-flight request finishes, nothing new starts")
	require.NotContains(t, errb.String(), "interrupted", "giving up is not Ctrl-C")

	// Failures between successes are the rows' own: the run goes on.
	b.concurrency = 1 // completions in row order, so "in a row" is exact
	outs, gaveUp = b.run(context.Background(), n, lanes, func(_ context.Context, job []int) (bool, error) {
		if job[0]%3 == 0 {
			return false, nil
		}
		return false, errDown
	})
	require.NoError(t, gaveUp)
	for i, o := range outs {
		require.True(t, o.done, "row %d", i)
	}
}
