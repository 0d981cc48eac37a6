// Package kindtype holds the custom Go types of the Kind test schemas
// (ent/schema/kind_*.go): types with their own Scan and Value methods, named
// basic types, a Go enum and a JSON type, all from a package other than the
// schema's, so that the generated code must import it.
package kindtype

import (
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Code is a pointer GoType of a string field: field.String("code").GoType(&Code{}).
type Code struct{ S string }

// Scan implements sql.Scanner.
func (c *Code) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		c.S = ""
	case string:
		c.S = v
	case []byte:
		c.S = string(v)
	default:
		return fmt.Errorf("kindtype: Code from %T", src)
	}
	return nil
}

// Value implements driver.Valuer.
func (c *Code) Value() (driver.Value, error) { return c.S, nil }

// NullText is a sql.NullString-like struct GoType of a string field.
type NullText struct {
	Text  string
	Valid bool
}

// Scan implements sql.Scanner.
func (n *NullText) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*n = NullText{}
	case string:
		*n = NullText{Text: v, Valid: true}
	case []byte:
		*n = NullText{Text: string(v), Valid: true}
	default:
		return fmt.Errorf("kindtype: NullText from %T", src)
	}
	return nil
}

// Value implements driver.Valuer.
func (n NullText) Value() (driver.Value, error) {
	if !n.Valid {
		return nil, nil
	}
	return n.Text, nil
}

// Money is an amount in cents stored as decimal text ("12.34"), the type
// of a field.Other.
type Money int64

// Scan implements sql.Scanner.
func (m *Money) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		*m = 0
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("kindtype: Money from %T", src)
	}
	units, cents, _ := strings.Cut(s, ".")
	u, err := strconv.ParseInt(units, 10, 64)
	if err != nil {
		return err
	}
	c, err := strconv.ParseInt(cents, 10, 64)
	if err != nil {
		return err
	}
	if strings.HasPrefix(units, "-") {
		c = -c
	}
	*m = Money(u*100 + c)
	return nil
}

// Value implements driver.Valuer.
func (m Money) Value() (driver.Value, error) {
	sign, v := "", int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100), nil
}

// Level is a named integer GoType.
type Level int16

// Label is a named string GoType.
type Label string

// Color is a Go enum.
type Color string

// The colors.
const (
	Red   Color = "red"
	Green Color = "green"
)

// Values lists the colors, for field.Enum(...).GoType(Color("")).
func (Color) Values() []string { return []string{string(Red), string(Green)} }

// Meta is a JSON field type holding times.
type Meta struct {
	At    time.Time  `json:"at"`
	Maybe *time.Time `json:"maybe,omitempty"`
	Notes []string   `json:"notes,omitempty"`
}
