package store

import (
	"context"
	"fmt"
)

const recordImportSQL = `INSERT INTO import_runs (file, started, existing, failed) VALUES ($1, $2, $3, $4)`

// RecordImport keeps the outcome of one import run. Rows are only ever
// added, so their sums are true counters (kamflow_import_rows_total).
func (s *Store) RecordImport(ctx context.Context, file string, started, existing, failed int) error {
	if _, err := s.db.ExecContext(ctx, recordImportSQL, file, started, existing, failed); err != nil {
		return fmt.Errorf("record import of %s: %w", file, err)
	}
	return nil
}
