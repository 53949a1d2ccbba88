package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/store/postgres"
	"github.com/otpgate/otpgate/internal/store/sqlite"
)

// storeFlags choose the database: the embedded SQLite file in the data
// directory, or PostgreSQL shared by several instances.
type storeFlags struct {
	DatabaseURL      string `name:"database-url" help:"PostgreSQL URL (postgres://user:pass@host/db); without it the embedded SQLite database in --data-dir is used." placeholder:"URL"`
	DatabaseMaxConns int32  `name:"database-max-conns" help:"PostgreSQL pool size per instance; 0: the URL's pool_max_conns, else the larger of 4 and the CPU count." default:"0"`
	SQLiteSync       string `name:"sqlite-synchronous" help:"SQLite durability: full answers only once the log is synced (an answer survives a power cut; one fsync serves a batch of requests); normal survives a crash of otpgate but not of the machine (docs/durability.md)." enum:"full,normal" default:"full"`
}

// store is what the commands need of either engine.
type store interface {
	otp.Store
	Close() error
}

// openStore opens the chosen database. migrate applies pending migrations
// (SQLite always migrates: it is one process's own file); without it a
// PostgreSQL schema that is not the one this binary knows is refused.
func (f *storeFlags) openStore(ctx context.Context, dataDir string, migrate bool) (store, error) {
	if f.DatabaseURL != "" {
		s, err := postgres.Open(ctx, f.DatabaseURL, postgres.Options{Migrate: migrate, MaxConns: f.DatabaseMaxConns})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	if err := ensureDataDir(dataDir); err != nil {
		return nil, err
	}
	return sqlite.OpenWith(ctx, filepath.Join(dataDir, databaseFile), sqlite.Options{Synchronous: f.SQLiteSync})
}

// migrateCmd applies the schema, for deployments that migrate before they
// roll out new instances (serve --no-migrate).
type migrateCmd struct {
	storeFlags `embed:""`
	DataDir    string `help:"Directory of the embedded database (without --database-url)." default:"./otpgate-data" type:"path"`
}

func (c *migrateCmd) Run(ctx context.Context) error {
	if c.DatabaseURL == "" {
		s, err := c.openStore(ctx, c.DataDir, true)
		if err != nil {
			return err
		}
		fmt.Println("the SQLite schema in", c.DataDir, "is up to date")
		return s.Close()
	}
	s, err := postgres.Open(ctx, c.DatabaseURL, postgres.Options{})
	if err == nil {
		// Already current: Open without Migrate checks exactly that.
		fmt.Println("the PostgreSQL schema is up to date")
		return s.Close()
	}
	s, err = postgres.Open(ctx, c.DatabaseURL, postgres.Options{Migrate: true})
	if err != nil {
		return err
	}
	defer s.Close()
	version, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("migrated the PostgreSQL schema to version %d\n", version)
	return nil
}

// storeCollectors are the metrics of the store's own: for SQLite, its
// writer's counters, read at each scrape (units per batch is units over
// batches; busy seconds over elapsed seconds is the writer's utilisation).
func storeCollectors(st store) []prometheus.Collector {
	s, ok := st.(*sqlite.Store)
	if !ok {
		return nil
	}
	counter := func(name, help string, value func(sqlite.WriterStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return value(s.WriterStats()) })
	}
	return []prometheus.Collector{
		counter("otpgate_sqlite_writer_batches_total", "Transactions the SQLite writer committed or tried, each holding a batch of requests' units.",
			func(w sqlite.WriterStats) float64 { return float64(w.Batches) }),
		counter("otpgate_sqlite_writer_units_total", "Units (requests' transactions) the SQLite writer ran; over batches, the mean batch size.",
			func(w sqlite.WriterStats) float64 { return float64(w.Units) }),
		counter("otpgate_sqlite_log_syncs_total", "fsyncs of the SQLite write-ahead log, each making the batches committed before it durable.",
			func(w sqlite.WriterStats) float64 { return float64(w.Syncs) }),
		counter("otpgate_sqlite_writer_busy_seconds_total", "Time the SQLite writer spent running batches, commits included, fsyncs not; its rate is the writer's utilisation.",
			func(w sqlite.WriterStats) float64 { return w.Busy.Seconds() }),
	}
}
