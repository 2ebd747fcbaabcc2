package store

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// Open tasks only: a task done before the cancellation keeps its completion.
// The visit of a cancelled visit task frees its slot in the calendar.
const cancelTasksSQL = `
WITH t AS (
    UPDATE tasks SET state = 'cancelled', completed_at = $2
    WHERE id = ANY($1) AND state = 'open'
    RETURNING id
)
UPDATE visits v SET state = 'cancelled' FROM t WHERE v.task_id = t.id AND v.state = 'scheduled'`

// CancelTasks closes work that no longer makes sense (the stage it belonged
// to is over). Cancelling again, or a task already done, changes nothing.
func (s *Store) CancelTasks(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, cancelTasksSQL, pq.Array(ids), at); err != nil {
		return fmt.Errorf("cancel %d tasks: %w", len(ids), err)
	}
	return nil
}
