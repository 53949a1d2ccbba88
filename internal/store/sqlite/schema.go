package sqlite

import "github.com/otpgate/otpgate/internal/store/migrate"

// Migrations are the schema migrations of this dialect, oldest first: the
// latest version is the one this binary knows (`otpgate serve --check`
// compares a database file's with it).
func Migrations() ([]migrate.Migration, error) {
	return migrate.Load(migrations, "migrations")
}
