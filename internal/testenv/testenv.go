// Package testenv opens the database and Redis that the tests and the
// example run on: in-memory sqlite and an embedded Redis (miniredis) by
// default, or the servers named by DATABASE_URL (postgres://... or
// mysql://..., for PostgreSQL and MySQL/MariaDB) and REDIS_URL.
//
// REDIS_URL names either one server, as go-redis's redis.ParseURL reads it:
//
//	redis://[user:password@]host:port[/db]
//
// or a Redis Cluster, by the scheme redis+cluster:// (rediss+cluster:// for
// TLS), one seed node in the host and the others in addr parameters:
//
//	redis+cluster://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002
//
// Apart from its scheme, a cluster URL is what go-redis's
// redis.ParseClusterURL reads (its other parameters too, such as
// dial_timeout); it has no database number, a cluster having database 0
// only. The client then is a redis.ClusterClient, which finds the other
// nodes itself.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
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

// Redis is a Redis server, or cluster, for one test or program.
type Redis struct {
	Client redis.UniversalClient
	// Mini is the embedded server, nil on a real one.
	Mini *miniredis.Miniredis
	// Prefix is a key prefix no other test uses.
	Prefix string
	// URL is what the client connected to.
	URL string
}

// clusterSchemes maps the schemes of a cluster URL to those that
// redis.ParseClusterURL reads.
var clusterSchemes = map[string]string{"redis+cluster": "redis", "rediss+cluster": "rediss"}

// newClient opens a client of the server or cluster named by u (see the
// package comment).
func newClient(u string) (redis.UniversalClient, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	scheme, ok := clusterSchemes[pu.Scheme]
	if !ok {
		if pu.Query().Has("addr") {
			return nil, fmt.Errorf("%s: addr parameters name cluster nodes: use redis+cluster://", pu.Scheme)
		}
		opt, err := redis.ParseURL(u)
		if err != nil {
			return nil, err
		}
		opt.ContextTimeoutEnabled = true
		return redis.NewClient(opt), nil
	}
	if p := strings.TrimPrefix(pu.Path, "/"); p != "" && p != "0" {
		return nil, fmt.Errorf("%s: a cluster has database 0 only, not %q", pu.Scheme, p)
	}
	pu.Scheme, pu.Path = scheme, ""
	opt, err := redis.ParseClusterURL(pu.String())
	if err != nil {
		return nil, err
	}
	opt.ContextTimeoutEnabled = true
	return redis.NewClusterClient(opt), nil
}

// OpenRedis connects to REDIS_URL, or starts an embedded server.
func OpenRedis() (*Redis, error) {
	r := &Redis{Prefix: "t" + RandomName()}
	if u := os.Getenv("REDIS_URL"); u != "" {
		c, err := newClient(u)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		r.Client, r.URL = c, u
	} else {
		m, err := miniredis.Run()
		if err != nil {
			return nil, err
		}
		r.Mini, r.URL = m, "redis://"+m.Addr()
		r.Client = redis.NewClient(&redis.Options{Addr: m.Addr(), ContextTimeoutEnabled: true})
	}
	if err := r.Client.Ping(context.Background()).Err(); err != nil {
		r.Client.Close()
		if r.Mini != nil {
			r.Mini.Close()
		}
		return nil, fmt.Errorf("redis %s: %w", r.URL, err)
	}
	return r, nil
}

// NewClient returns another client of the same server: a cluster client
// when it is a cluster.
func (r *Redis) NewClient() redis.UniversalClient {
	c, _ := newClient(r.URL) // OpenRedis parsed it
	return c
}

// Advance lets d pass: real time, and the embedded server's clock.
func (r *Redis) Advance(d time.Duration) {
	time.Sleep(d)
	if r.Mini != nil {
		r.Mini.FastForward(d)
	}
}

// pattern matches every key under Prefix.
func (r *Redis) pattern() string { return "{" + entcachemodel.KeyPart(r.Prefix) + ":*" }

// Keys returns the keys that match pattern, as KEYS would on a single
// server: it scans the server, or every master of a cluster (where KEYS and
// SCAN ask one node).
func (r *Redis) Keys(ctx context.Context, pattern string) ([]string, error) {
	var mu sync.Mutex
	var keys []string
	scan := func(ctx context.Context, node redis.Cmdable) error {
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cluster, ok := r.Client.(*redis.ClusterClient); ok {
		err = cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			if err := scan(ctx, node); err != nil {
				return fmt.Errorf("SCAN %s: %w", node.Options().Addr, err)
			}
			return nil
		})
	} else if err = scan(ctx, r.Client); err != nil {
		err = fmt.Errorf("SCAN: %w", err)
	}
	slices.Sort(keys)
	return slices.Compact(keys), err // SCAN may return a key twice
}

// DeleteAll deletes every key under Prefix, as FLUSHALL would on a server of
// the test's own, and returns how many it found. It finds them with Keys
// and deletes them with a DEL per key, pipelined (a DEL of keys of
// different slots fails on a cluster); keys written meanwhile may survive.
func (r *Redis) DeleteAll(ctx context.Context) (int, error) {
	keys, err := r.Keys(ctx, r.pattern())
	if err != nil {
		return 0, err
	}
	for chunk := range slices.Chunk(keys, 1000) {
		pipe := r.Client.Pipeline()
		for _, k := range chunk {
			pipe.Del(ctx, k)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return len(keys), fmt.Errorf("DEL: %w", err)
		}
	}
	return len(keys), nil
}

// Close removes the keys under Prefix from a real server or cluster (they
// never expire), then closes the client and the embedded server.
func (r *Redis) Close() {
	if r.Mini == nil {
		_, _ = r.DeleteAll(context.Background())
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
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond, ContextTimeoutEnabled: true})
}
