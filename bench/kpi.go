package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/kamflow/kamflow/activities"
	"github.com/kamflow/kamflow/internal/store"
)

// kpi measures GET /api/v1/kpis, the portfolio figures senior management
// reads, on a record of KPIAccounts accounts and KPIEvents events made by
// store.SeedKPIBench (three years of accounts walking the lifecycle). The
// requests cycle over the three period presets. A worker that does not
// serve the endpoint yet leaves the line pending instead of failing.
func (b *bench) kpi(ctx context.Context) error {
	const step = "KPI"
	what := fmt.Sprintf("GET /api/v1/kpis, %d accounts, %d events, periods 30d/90d/365d", b.sz.KPIAccounts, b.sz.KPIEvents)
	d, err := b.newDatabase(ctx, "kpi")
	if err != nil {
		return err
	}
	defer d.close()
	w, err := b.startWorker(ctx, "kpi", d.url, b.settings)
	if err != nil {
		return err
	}
	defer w.stop()
	resp, err := http.Get("http://" + w.httpAddr + "/api/v1/kpis")
	if err != nil {
		return fmt.Errorf("probe /api/v1/kpis: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		for _, suffix := range []string{"-p50", "-p99"} {
			b.table.add(&Line{Step: step + suffix, What: what, Unit: "ms", Pending: true, Target: &Target{Op: "<", Bound: 300},
				Note: "the worker does not serve /api/v1/kpis yet"})
		}
		return nil
	}
	start := time.Now()
	if err := d.store.SeedKPIBench(ctx, b.sz.KPIAccounts, b.sz.KPIEvents, time.Now()); err != nil {
		return err
	}
	b.log.Info("KPI record seeded", "took", time.Since(start).Round(time.Second))
	// SeedKPIBench makes bench-senior, who sees the whole portfolio.
	token, err := addTokenManager(ctx, d.store, store.Manager{ID: "bench-senior", Name: "陈静 Chen Jing", Email: "senior@bench.example", Role: activities.RoleSenior})
	if err != nil {
		return err
	}
	paths := []string{"/api/v1/kpis?period=30d", "/api/v1/kpis?period=90d", "/api/v1/kpis?period=365d"}
	return b.latencyLines(ctx, w, token, step, what, paths, b.sz.KPIRequests, 300)
}
