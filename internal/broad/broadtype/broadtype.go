// Package broadtype holds the Go types and defaults of the broad test
// schema: outside the schema package, which imports the generated client
// for its hooks, interceptors and policies, while the generated client
// imports these types.
package broadtype

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"
)

// clock is what the time defaults read: the harness sets it, so that the
// two databases it compares get the same create and update times.
var clock struct {
	sync.Mutex
	now time.Time
	ids uint64
}

// SetClock sets the time the defaults return, and the sequence the UUID
// defaults start from.
func SetClock(now time.Time, seq uint64) {
	clock.Lock()
	defer clock.Unlock()
	clock.now, clock.ids = now, seq
}

// Now is the time default of every time field: the clock's time, or the
// current time when no clock was set.
func Now() time.Time {
	clock.Lock()
	defer clock.Unlock()
	if clock.now.IsZero() {
		return time.Now().UTC().Truncate(time.Second)
	}
	return clock.now
}

// NewUUID is the default of every UUID field: the next UUID of the clock's
// sequence, or a random one when no clock was set.
func NewUUID() uuid.UUID {
	clock.Lock()
	defer clock.Unlock()
	if clock.now.IsZero() {
		return uuid.New()
	}
	clock.ids++
	// The sequence sits in the last bytes; the first byte is scrambled so
	// that the text order, the sequence and MariaDB's uuid order differ.
	var u uuid.UUID
	n := clock.ids
	u[0] = byte(n * 0x9d)
	u[4] = byte(n * 0x3b)
	u[6], u[8] = 0x40, 0x80 // version 4, RFC 4122 variant
	u[13], u[14], u[15] = byte(n>>16), byte(n>>8), byte(n)
	return u
}

// Status is a GoType enum (it lists its values itself).
type Status string

// The post statuses.
const (
	StatusDraft     Status = "draft"
	StatusPublished Status = "published"
	StatusArchived  Status = "archived"
)

// Values implements field.EnumValues.
func (Status) Values() []string {
	return []string{string(StatusDraft), string(StatusPublished), string(StatusArchived)}
}

// Level is a GoType enum of another kind.
type Level string

// Values implements field.EnumValues.
func (Level) Values() []string { return []string{"low", "high"} }

// Handle is a string GoType.
type Handle string

// Cents is an integer GoType.
type Cents int64

// Point is a JSON struct.
type Point struct {
	X, Y int
}

// Decimal is a field.Other type: a fixed-point number stored as text.
type Decimal struct {
	Units int64 // hundredths
}

// Value implements driver.Valuer.
func (d Decimal) Value() (driver.Value, error) {
	return strconv.FormatInt(d.Units, 10), nil
}

// Scan implements sql.Scanner.
func (d *Decimal) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		d.Units = 0
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("decimal: cannot scan %T", src)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("decimal: %w", err)
	}
	d.Units = n
	return nil
}

// DecimalSchemaType is the column type of Decimal fields.
var DecimalSchemaType = map[string]string{dialect.SQLite: "text", dialect.Postgres: "text", dialect.MySQL: "varchar(64)"}

// NullString is a pointer GoType with Scan and Value.
type NullString = sql.NullString

// Upper is a string GoType stored through a ValueScanner, in upper case.
type Upper string

// UpperValueScanner stores an Upper in upper case and reads it back as is.
var UpperValueScanner = field.ValueScannerFunc[Upper, *sql.NullString]{
	V: func(u Upper) (driver.Value, error) { return strings.ToUpper(string(u)), nil },
	S: func(ns *sql.NullString) (Upper, error) {
		if !ns.Valid {
			return "", nil
		}
		return Upper(ns.String), nil
	},
}

type (
	skipSoftDeleteKey struct{}
	readOnlyKey       struct{}
	writeOnlyKey      struct{}
)

// WriteOnly returns a context in which the privacy policy refuses Tag
// queries (a service account that may record tags but not list them).
func WriteOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, writeOnlyKey{}, true)
}

// IsWriteOnly reports whether ctx was made by WriteOnly.
func IsWriteOnly(ctx context.Context) bool {
	wo, _ := ctx.Value(writeOnlyKey{}).(bool)
	return wo
}

// SkipSoftDelete returns a context whose Post queries see soft-deleted
// posts too.
func SkipSoftDelete(ctx context.Context) context.Context {
	return context.WithValue(ctx, skipSoftDeleteKey{}, true)
}

// SoftDeleteSkipped reports whether ctx sees soft-deleted posts.
func SoftDeleteSkipped(ctx context.Context) bool {
	skip, _ := ctx.Value(skipSoftDeleteKey{}).(bool)
	return skip
}

// ReadOnly returns a context in which the privacy policy refuses Tag
// writes.
func ReadOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, readOnlyKey{}, true)
}

// IsReadOnly reports whether ctx was made by ReadOnly.
func IsReadOnly(ctx context.Context) bool {
	ro, _ := ctx.Value(readOnlyKey{}).(bool)
	return ro
}
