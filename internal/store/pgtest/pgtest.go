// Package pgtest gives tests a real PostgreSQL database of their own.
//
// NewDatabase finds a server, in this order:
//
//  1. OTPGATE_TEST_DATABASE_URL, when set: a URL (or key=value string) of a
//     database on a server where the user may CREATE DATABASE. The special
//     value "throwaway" skips straight to step 3.
//  2. 127.0.0.1:5432 as user postgres without a password (trust), when it
//     answers (admin database postgres, else test).
//  3. A throwaway cluster started with the installed server binaries
//     (/usr/lib/postgresql/*/bin, or initdb on PATH), once per test binary, in
//     a directory under os.TempDir. As root it runs them as the postgres user,
//     since initdb refuses root. A watchdog process stops it and deletes it
//     when the test binary exits.
//
// Each test gets its own database, cloned from a template that holds the
// migrated schema. The template is named after a hash of the migrations, so it
// is made once per server and schema and then reused by every test binary;
// each test's database is dropped when the test ends.
//
// When no server can be found or started the test is skipped, unless the
// environment variable CI is set: then it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/otpgate/otpgate/internal/store/postgres"
)

// EnvURL names the environment variable with the server to test against.
const EnvURL = "OTPGATE_TEST_DATABASE_URL"

// localURLs are tried when EnvURL is not set.
var localURLs = []string{
	"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable&connect_timeout=2",
	"postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=2",
}

// The server of this test binary, found once.
var (
	defaultOnce   sync.Once
	defaultServer *server
	defaultErr    error
)

// NewDatabase returns the URL of a new database holding the current schema
// and no data, for this test alone; it is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return shared(t).newDatabase(t)
}

// NewEmptyDatabase is NewDatabase without the schema, for tests of
// migrations.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	return shared(t).newEmptyDatabase(t)
}

// shared is the server of this test binary, found on first use.
func shared(t testing.TB) *server {
	t.Helper()
	defaultOnce.Do(func() { defaultServer, defaultErr = findServer() })
	if defaultErr != nil {
		if env := os.Getenv(EnvURL); env != "" && env != "throwaway" {
			t.Fatalf("pgtest: %s: %v", EnvURL, defaultErr)
		}
		unavailable(t, defaultErr)
	}
	return defaultServer
}

// unavailable skips t, or fails it under CI, where a PostgreSQL that cannot
// be had is a failure.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("pgtest: no PostgreSQL to test against, and CI is set: %v", err)
	}
	t.Skipf("pgtest: no PostgreSQL to test against (%v); set %s, run one on 127.0.0.1:5432 or install the PostgreSQL server binaries", err, EnvURL)
}

func findServer() (*server, error) {
	env := os.Getenv(EnvURL)
	switch {
	case env == "throwaway":
	case env != "":
		return connect(env, nil)
	default:
		for _, u := range localURLs {
			if s, err := connect(u, nil); err == nil {
				return s, nil
			}
		}
	}
	c, err := startCluster()
	if err != nil {
		if env == "" {
			err = fmt.Errorf("nothing answers on 127.0.0.1:5432, and no throwaway cluster: %w", err)
		}
		return nil, err
	}
	// The watchdog stops this cluster when the test binary exits.
	return c.server()
}

// server is a PostgreSQL server on which tests create databases.
type server struct {
	adminURL string
	admin    *pgxpool.Pool
	owned    bool // started by this process: no other process uses it

	tmplOnce sync.Once
	tmpl     string
	tmplErr  error
}

// connect makes a server of the database at adminURL, once it answers.
func connect(adminURL string, cluster *Cluster) (*server, error) {
	cfg, err := pgxpool.ParseConfig(adminURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return &server{adminURL: adminURL, admin: pool, owned: cluster != nil}, nil
}

// databaseURL is adminURL with another database.
func (s *server) databaseURL(name string) string {
	if u, err := url.Parse(s.adminURL); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		u.RawPath = ""
		return u.String()
	}
	// A key=value string: the last dbname wins.
	return s.adminURL + " dbname=" + name
}

func (s *server) newDatabase(t testing.TB) string {
	t.Helper()
	s.tmplOnce.Do(func() { s.tmpl, s.tmplErr = s.template() })
	if s.tmplErr != nil {
		t.Fatalf("pgtest: template database: %v", s.tmplErr)
	}
	return s.create(t, s.tmpl)
}

func (s *server) newEmptyDatabase(t testing.TB) string {
	t.Helper()
	return s.create(t, "template0")
}

// create creates a database for t from template, and drops it when t ends.
func (s *server) create(t testing.TB, template string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("otpgate_test_%d_%s", time.Now().Unix(), randomHex(4))
	if err := s.exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE (PostgreSQL 13+) ends the sessions of a pool left open.
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return s.databaseURL(name)
}

// template returns the name of the template database of the current
// migrations, creating it unless it exists. It is migrated under a
// temporary name and then renamed: a template that has its name is
// complete, and of two processes making it at once one rename wins.
func (s *server) template() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if !s.owned {
		s.sweep(ctx)
	}
	ms, err := postgres.Migrations()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, m := range ms {
		fmt.Fprintf(h, "%s\x00%s\x00", m.Name, m.SQL)
	}
	name := "otpgate_tmpl_" + hex.EncodeToString(h.Sum(nil))[:12]
	if ok, err := s.exists(ctx, name); err != nil || ok {
		return name, err
	}
	tmp := fmt.Sprintf("%s_%d_%s", name, time.Now().Unix(), randomHex(4))
	if err := s.exec(ctx, "CREATE DATABASE "+ident(tmp)+" TEMPLATE template0"); err != nil {
		return "", err
	}
	st, err := postgres.Open(ctx, s.databaseURL(tmp), postgres.Options{Migrate: true, MaxConns: 1})
	if err != nil {
		s.exec(ctx, "DROP DATABASE IF EXISTS "+ident(tmp)+" WITH (FORCE)")
		return "", err
	}
	st.Close()
	err = s.exec(ctx, "ALTER DATABASE "+ident(tmp)+" RENAME TO "+ident(name))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P04" { // duplicate_database: another process won
		err = nil
	}
	if derr := s.exec(ctx, "DROP DATABASE IF EXISTS "+ident(tmp)+" WITH (FORCE)"); err == nil && derr != nil {
		err = derr
	}
	return name, err
}

func (s *server) exists(ctx context.Context, name string) (bool, error) {
	var n int
	err := s.admin.QueryRow(ctx, `SELECT COUNT(*) FROM pg_database WHERE datname = $1`, name).Scan(&n)
	return n > 0, err
}

// stale matches the databases of this package that carry a creation time.
var stale = regexp.MustCompile(`^otpgate_(?:test|tmpl_[0-9a-f]{12})_([0-9]+)_[0-9a-f]+$`)

// sweep drops the databases that test binaries killed before their cleanup
// left behind on a shared server: those over two hours old that nobody is
// connected to.
func (s *server) sweep(ctx context.Context) {
	rows, err := s.admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'otpgate\_%'`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		m := stale.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		if sec, err := strconv.ParseInt(m[1], 10, 64); err == nil && time.Since(time.Unix(sec, 0)) > 2*time.Hour {
			_, _ = s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(n)) // fails, harmlessly, while in use
		}
	}
}

// exec runs a statement on the admin database, again while the database it
// names is still in use (a pool just closed leaves its sessions ending).
func (s *server) exec(ctx context.Context, sql string) error {
	for {
		_, err := s.admin.Exec(ctx, sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "55006" { // object_in_use
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// quote makes s one word of sh.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
