// Package testenv opens the database and Redis that the tests and the
// example run on: in-memory sqlite and an embedded Redis (miniredis) by
// default, or the servers named by DATABASE_URL (postgres://... or
// mysql://..., for PostgreSQL and MySQL/MariaDB) and REDIS_URL.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/alicebob/miniredis/v2"
	"github.com/go-sql-driver/mysql"   // MySQL/MariaDB driver
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver
	_ "github.com/mattn/go-sqlite3"    // sqlite driver
	"github.com/redis/go-redis/v9"

	"github.com/entcachemodel/entcachemodel/entcachemodel"
)

// Redis is a Redis server for one test or program.
type Redis struct {
	Client redis.UniversalClient
	// Mini is the embedded server, nil on a real one.
	Mini *miniredis.Miniredis
	// Prefix is a key prefix no other test uses.
	Prefix string
	// URL is what the client connected to.
	URL string
}

// OpenRedis connects to REDIS_URL, or starts an embedded server.
func OpenRedis() (*Redis, error) {
	r := &Redis{Prefix: "t" + RandomName()}
	if u := os.Getenv("REDIS_URL"); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		r.Client, r.URL = redis.NewClient(opt), u
	} else {
		m, err := miniredis.Run()
		if err != nil {
			return nil, err
		}
		r.Mini, r.URL = m, "redis://"+m.Addr()
		r.Client = redis.NewClient(&redis.Options{Addr: m.Addr()})
	}
	if err := r.Client.Ping(context.Background()).Err(); err != nil {
		return nil, fmt.Errorf("redis %s: %w", r.URL, err)
	}
	return r, nil
}

// NewClient returns another client of the same server.
func (r *Redis) NewClient() redis.UniversalClient {
	opt, _ := redis.ParseURL(r.URL)
	return redis.NewClient(opt)
}

// Advance lets d pass: real time, and the embedded server's clock.
func (r *Redis) Advance(d time.Duration) {
	time.Sleep(d)
	if r.Mini != nil {
		r.Mini.FastForward(d)
	}
}

// Close removes the keys under Prefix from a real server (they never
// expire), then closes the client and the embedded server.
func (r *Redis) Close() {
	if r.Mini == nil {
		ctx := context.Background()
		iter := r.Client.Scan(ctx, 0, "{"+entcachemodel.KeyPart(r.Prefix)+":*", 1000).Iterator()
		for iter.Next(ctx) {
			r.Client.Del(ctx, iter.Val())
		}
	}
	r.Client.Close()
	if r.Mini != nil {
		r.Mini.Close()
	}
}

// Database is a database no other test uses.
type Database struct {
	Dialect string
	// DSN opens another pool on the same database.
	DSN    string
	driver string
	drop   func()
}

// OpenDatabase creates a fresh database: a schema of DATABASE_URL
// (postgres://...), a database on the server of DATABASE_URL
// (mysql://user:password@host:port/database), or a named in-memory sqlite
// database.
func OpenDatabase() (*Database, error) {
	name := "t" + RandomName()
	u := os.Getenv("DATABASE_URL")
	switch {
	case u == "":
		return &Database{Dialect: dialect.SQLite, driver: "sqlite3", drop: func() {},
			DSN: "file:" + name + "?mode=memory&cache=shared&_fk=1&_busy_timeout=10000"}, nil
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		admin, err := sql.Open("pgx", u)
		if err != nil {
			return nil, err
		}
		if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
			admin.Close()
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		pu, err := url.Parse(u)
		if err != nil {
			return nil, err
		}
		q := pu.Query()
		q.Set("search_path", name)
		pu.RawQuery = q.Encode()
		return &Database{Dialect: dialect.Postgres, driver: "pgx", DSN: pu.String(), drop: func() {
			admin.Exec("DROP SCHEMA " + name + " CASCADE")
			admin.Close()
		}}, nil
	case strings.HasPrefix(u, "mysql://"):
		cfg, err := mysqlConfig(u)
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		admin, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			return nil, err
		}
		if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
			admin.Close()
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		cfg.DBName = name
		return &Database{Dialect: dialect.MySQL, driver: "mysql", DSN: cfg.FormatDSN(), drop: func() {
			admin.Exec("DROP DATABASE " + name)
			admin.Close()
		}}, nil
	default:
		return nil, fmt.Errorf("DATABASE_URL: unsupported scheme in %q (want postgres:// or mysql://)", u)
	}
}

// mysqlConfig turns mysql://user:password@host:port/database?param=value
// into the driver's configuration: times are read as time.Time in UTC, and
// the session's time zone is UTC too, so TIMESTAMP columns round-trip
// whatever the server's zone. Query parameters are the driver's DSN
// parameters and override these.
func mysqlConfig(u string) (*mysql.Config, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	host := pu.Host
	if pu.Port() == "" {
		host += ":3306"
	}
	cfg := mysql.NewConfig()
	cfg.User = pu.User.Username()
	cfg.Passwd, _ = pu.User.Password()
	cfg.Net, cfg.Addr = "tcp", host
	cfg.DBName = strings.TrimPrefix(pu.Path, "/")
	cfg.ParseTime, cfg.Loc = true, time.UTC
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	if pu.RawQuery == "" {
		return cfg, nil
	}
	sep := "?"
	dsn := cfg.FormatDSN()
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return mysql.ParseDSN(dsn + sep + pu.RawQuery)
}

// Open opens a new pool on the database, wrapped to count its queries.
func (d *Database) Open() (*Counter, error) {
	db, err := sql.Open(d.driver, d.DSN)
	if err != nil {
		return nil, err
	}
	if d.Dialect == dialect.SQLite {
		// One connection keeps the shared in-memory database alive and
		// serializes writers, as sqlite does anyway.
		db.SetMaxOpenConns(1)
	}
	if err := db.Ping(); err != nil {
		return nil, err
	}
	return &Counter{Driver: entsql.OpenDB(d.Dialect, db)}, nil
}

// Close drops the database.
func (d *Database) Close() { d.drop() }

// RandomName returns a short random lower-case name.
func RandomName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Counter is a dialect.Driver that counts the statements it runs. Its
// hooks inject faults from outside the library.
type Counter struct {
	dialect.Driver
	n      atomic.Int64
	outbox atomic.Int64
	// Before, when set, runs before every statement.
	Before func(ctx context.Context, query string)
	// After, when set, runs after every query (not Exec), with its error.
	After func(ctx context.Context, query string)
}

func (c *Counter) before(ctx context.Context, query string) {
	if strings.Contains(query, entcachemodel.OutboxTable) {
		c.outbox.Add(1)
	} else {
		c.n.Add(1)
	}
	if c.Before != nil {
		c.Before(ctx, query)
	}
}

func (c *Counter) after(ctx context.Context, query string) {
	if c.After != nil {
		c.After(ctx, query)
	}
}

// Count returns the number of statements run so far, leaving out those on
// the outbox table: the cache drains it in the background, now and then.
func (c *Counter) Count() int64 { return c.n.Load() }

// OutboxCount returns the number of statements run on the outbox table.
func (c *Counter) OutboxCount() int64 { return c.outbox.Load() }

// Exec counts and runs a statement.
func (c *Counter) Exec(ctx context.Context, query string, args, v any) error {
	c.before(ctx, query)
	return c.Driver.Exec(ctx, query, args, v)
}

// Query counts and runs a query.
func (c *Counter) Query(ctx context.Context, query string, args, v any) error {
	c.before(ctx, query)
	err := c.Driver.Query(ctx, query, args, v)
	c.after(ctx, query)
	return err
}

// Tx starts a transaction whose statements are counted too.
func (c *Counter) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := c.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &countedTx{Tx: tx, c: c}, nil
}

type countedTx struct {
	dialect.Tx
	c *Counter
}

func (t *countedTx) Exec(ctx context.Context, query string, args, v any) error {
	t.c.before(ctx, query)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *countedTx) Query(ctx context.Context, query string, args, v any) error {
	t.c.before(ctx, query)
	err := t.Tx.Query(ctx, query, args, v)
	t.c.after(ctx, query)
	return err
}

// DeadRedis returns a client of a Redis server that is not there.
func DeadRedis() redis.UniversalClient {
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
}
