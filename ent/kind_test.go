package ent_test

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/entcachemodel/entcachemodel/ent"
	"github.com/entcachemodel/entcachemodel/ent/kindall"
	"github.com/entcachemodel/entcachemodel/internal/kindtype"
)

// requireKindAllCached checks that the cached KindAll decodes equal
// (reflect.DeepEqual, locations of times included) to the one the database
// returns: the first cached read fills, the second decodes from Redis.
func (e *env) requireKindAllCached(id int) {
	e.t.Helper()
	want, err := e.client.KindAll.Get(e.ctx, id)
	require.NoError(e.t, err)
	_, err = e.client.KindAll.Cached().Get(e.ctx, id)
	require.NoError(e.t, err)
	var got *ent.KindAll
	n := e.queries(func() {
		got, err = e.client.KindAll.Cached().Get(e.ctx, id)
	})
	require.NoError(e.t, err)
	require.Zero(e.t, n, "the second read is a hit")
	w, g := want.Fields(), got.Fields()
	if !reflect.DeepEqual(w, g) {
		for i := range reflect.TypeOf(w).NumField() {
			f := reflect.TypeOf(w).Field(i)
			if !f.IsExported() {
				continue
			}
			wv, gv := reflect.ValueOf(w).Field(i).Interface(), reflect.ValueOf(g).Field(i).Interface()
			if !reflect.DeepEqual(wv, gv) {
				e.t.Errorf("%s: database %#v, cache %#v", f.Name, wv, gv)
			}
		}
		require.FailNow(e.t, "cached KindAll differs from the database's", "id %d", id)
	}
}

// Every ent field type round trips through the cache: a cached entity is
// reflect.DeepEqual to the database's, on every database, whatever the
// process's time zone (TestKindTimeZones runs this test again under TZ).
func TestKindRoundTrip(t *testing.T) {
	e := newEnv(t)
	at := time.Date(2024, 1, 15, 10, 30, 0, 123456000, time.UTC)
	maybe := at.Add(time.Hour).In(time.FixedZone("", 5*3600+30*60))
	u, err := url.Parse("https://example.com/a?b=c")
	require.NoError(t, err)
	int16v, uint16v, float64v := int16(-3), uint16(65535), 2.5
	bytes := []byte{}
	full, err := e.client.KindAll.Create().
		SetFInt(-1).SetFInt8(-128).SetFInt16(int16v).SetFInt32(-2147483648).SetFInt64(-1 << 62).
		SetFUint(1).SetFUint8(255).SetFUint16(uint16v).SetFUint32(4294967295).SetFUint64(1 << 62).
		SetFFloat32(1.5).SetFFloat64(float64v).
		SetFString("secret").SetFText("text").SetFBool(true).SetFBytes(bytes).
		SetFTime(time.Now().Truncate(time.Microsecond)).
		SetFJSON(kindtype.Meta{At: at.In(time.Local), Maybe: &maybe, Notes: []string{"x"}}).
		SetFStrings([]string{}).
		SetFEnum(kindall.FEnumB).SetFColor(kindtype.Green).
		SetFUUIDPtr(uuid.New()).
		SetFMoney(kindtype.Money(-1234)).
		SetFCode(&kindtype.Code{S: "c1"}).
		SetFNull(kindtype.NullText{Text: "n", Valid: true}).
		SetFNullstr(sql.NullString{String: "s", Valid: true}).
		SetFNulltime(sql.NullTime{Time: at.In(time.FixedZone("", -5*3600)), Valid: true}).
		SetFLevel(kindtype.Level(9)).SetFLabel("label").SetFURL(u).
		Save(e.ctx)
	require.NoError(t, err)
	bare, err := e.client.KindAll.Create().
		SetFInt(0).SetFInt32(0).SetFInt64(0).SetFUint(0).SetFUint64(0).SetFFloat32(0).
		SetFString("").SetFCode(&kindtype.Code{}).
		Save(e.ctx)
	require.NoError(t, err)
	for _, id := range []int{full.ID, bare.ID} {
		e.requireKindAllCached(id)
	}
	// UpdateDefault sets updated_at; the row read back is published.
	_, err = e.client.KindAll.UpdateOneID(full.ID).SetFInt(2).ClearFTime().ClearFJSON().Save(e.ctx)
	require.NoError(t, err)
	e.requireKindAllCached(full.ID)
	_, err = e.client.KindAll.Update().Where(kindall.ID(bare.ID)).SetFTime(time.Now().Truncate(time.Microsecond).In(time.FixedZone("", -7*3600))).AddFUint8(3).Save(e.ctx)
	require.NoError(t, err)
	e.requireKindAllCached(bare.ID)
}

// TestKindTimeZones runs TestKindRoundTrip in processes whose zone is
// America/New_York and UTC: sqlite returns times in fixed zones there, which
// the cache used to decode as Local.
func TestKindTimeZones(t *testing.T) {
	if os.Getenv("ENTCACHEMODEL_KIND_TZ") != "" {
		t.Skip("in a child process")
	}
	if testing.Short() {
		t.Skip("runs the test binary again")
	}
	for _, tz := range []string{"America/New_York", "UTC"} {
		t.Run(tz, func(t *testing.T) {
			if _, err := time.LoadLocation(tz); err != nil {
				t.Skipf("no zone database: %v", err)
			}
			cmd := exec.Command(os.Args[0], "-test.run", "^TestKindRoundTrip$", "-test.count", "1")
			cmd.Env = append(os.Environ(), "TZ="+tz, "ENTCACHEMODEL_KIND_TZ=1")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "TZ=%s:\n%s", tz, out)
			require.Contains(t, string(out), "PASS", fmt.Sprintf("TZ=%s", tz))
		})
	}
}
