package state

import (
	"errors"
	"strings"
	"testing"
)

// A database a newer syncd migrated is refused, naming the migration this
// binary does not know, by Migrate and by MigrationStatus alike.
func TestSchemaNewerIsRefused(t *testing.T) {
	s := newStore(t)
	ctx := testContext(t)
	if _, err := s.pool.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ('0099_future')"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(ctx); !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), "the schema has 0099_future, unknown to this syncd; upgrade syncd") {
		t.Errorf("Migrate: %v", err)
	}
	if _, _, err := s.MigrationStatus(ctx); !errors.Is(err, ErrSchemaNewer) {
		t.Errorf("MigrationStatus: %v", err)
	}
}
