package store

import (
	"context"
	"fmt"
	"time"
)

// Manager is a person who owns accounts, supervises managers or receives
// escalations. The token hash signs them in to the console and API.
type Manager struct {
	ID           string    `db:"id" json:"id"`
	Name         string    `db:"name" json:"name"`
	Email        string    `db:"email" json:"email"`
	Role         string    `db:"role" json:"role"` // manager | supervisor | senior | ops
	SupervisorID string    `db:"supervisor_id" json:"supervisor_id,omitempty"`
	TokenHash    []byte    `db:"token_hash" json:"-"`
	CreatedAt    time.Time `db:"created_at" json:"created_at"`
}

const managerCols = `id, name, email, role, COALESCE(supervisor_id, '') AS supervisor_id, token_hash, created_at`

// Re-importing a manager updates the profile but keeps the sign-in token,
// which only SetManagerToken changes.
const upsertManagerSQL = `
INSERT INTO managers (id, name, email, role, supervisor_id)
VALUES ($1, $2, $3, $4, NULLIF($5, ''))
ON CONFLICT (id) DO UPDATE SET
    name = EXCLUDED.name, email = EXCLUDED.email, role = EXCLUDED.role, supervisor_id = EXCLUDED.supervisor_id
WHERE (managers.name, managers.email, managers.role, managers.supervisor_id)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.email, EXCLUDED.role, EXCLUDED.supervisor_id)`

// UpsertManager creates the manager or updates its profile. A supervisor
// must be upserted before the managers reporting to them.
func (s *Store) UpsertManager(ctx context.Context, m Manager) error {
	if _, err := s.db.ExecContext(ctx, upsertManagerSQL, m.ID, m.Name, m.Email, m.Role, m.SupervisorID); err != nil {
		return fmt.Errorf("upsert manager %s: %w", m.ID, err)
	}
	return nil
}

const managerSQL = `SELECT ` + managerCols + ` FROM managers WHERE id = $1`

// Manager returns one manager, or ErrNotFound.
func (s *Store) Manager(ctx context.Context, id string) (Manager, error) {
	var m Manager
	if err := s.db.GetContext(ctx, &m, managerSQL, id); err != nil {
		return Manager{}, notFound(err, "manager "+id)
	}
	return m, nil
}

const managersSQL = `SELECT ` + managerCols + ` FROM managers ORDER BY id`

// Managers lists every manager by id.
func (s *Store) Managers(ctx context.Context) ([]Manager, error) {
	var ms []Manager
	if err := s.db.SelectContext(ctx, &ms, managersSQL); err != nil {
		return nil, fmt.Errorf("list managers: %w", err)
	}
	return ms, nil
}

const setManagerTokenSQL = `UPDATE managers SET token_hash = $2 WHERE id = $1`

// SetManagerToken stores the hash of a manager's sign-in token (nil revokes
// it). Only the hash is kept, so a database leak does not leak tokens.
func (s *Store) SetManagerToken(ctx context.Context, id string, hash []byte) error {
	res, err := s.db.ExecContext(ctx, setManagerTokenSQL, id, hash)
	if err != nil {
		return fmt.Errorf("set token of manager %s: %w", id, err)
	}
	return mustAffect(res, "manager "+id)
}

const managerByTokenHashSQL = `SELECT ` + managerCols + ` FROM managers WHERE token_hash = $1`

// ManagerByTokenHash finds who a sign-in token belongs to, or ErrNotFound.
func (s *Store) ManagerByTokenHash(ctx context.Context, hash []byte) (Manager, error) {
	var m Manager
	if len(hash) == 0 {
		return Manager{}, fmt.Errorf("manager by token: empty hash: %w", ErrNotFound)
	}
	if err := s.db.GetContext(ctx, &m, managerByTokenHashSQL, hash); err != nil {
		return Manager{}, notFound(err, "manager by token")
	}
	return m, nil
}

const seniorSQL = `SELECT ` + managerCols + ` FROM managers WHERE role = 'senior' ORDER BY id LIMIT 1`

// Senior returns the senior manager who receives level-2 escalations: the
// first by id with role senior, so the choice is stable. ErrNotFound when
// there is none.
func (s *Store) Senior(ctx context.Context) (Manager, error) {
	var m Manager
	if err := s.db.GetContext(ctx, &m, seniorSQL); err != nil {
		return Manager{}, notFound(err, "senior manager")
	}
	return m, nil
}

// The whole reporting tree, not just direct reports: a supervisor of
// supervisors sees everyone below. UNION (not ALL) stops at a cycle.
const teamSQL = `
WITH RECURSIVE team(id) AS (
    SELECT id FROM managers WHERE supervisor_id = $1
    UNION
    SELECT m.id FROM managers m JOIN team t ON m.supervisor_id = t.id
)
SELECT id FROM team WHERE id <> $1 ORDER BY id`

// Team returns the ids of the managers reporting to supervisorID, directly
// or through other supervisors, sorted; the supervisor is not included.
func (s *Store) Team(ctx context.Context, supervisorID string) ([]string, error) {
	ids := []string{}
	if err := s.db.SelectContext(ctx, &ids, teamSQL, supervisorID); err != nil {
		return nil, fmt.Errorf("team of %s: %w", supervisorID, err)
	}
	return ids, nil
}
