package schema

import (
	"database/sql"
	"net/url"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
	"github.com/entcachemodel/entcachemodel/internal/kindtype"
)

// KindAll has a field of every ent field type, in Optional, Nillable,
// Sensitive, Immutable and StorageKey combinations, and publishes a lookup
// by every kind of field a lookup may use.
type KindAll struct {
	ent.Schema
}

// Fields of the KindAll.
func (KindAll) Fields() []ent.Field {
	text := map[string]string{dialect.MySQL: "varchar(32)", dialect.Postgres: "varchar(32)", dialect.SQLite: "varchar(32)"}
	return []ent.Field{
		field.Int("f_int"),
		field.Int8("f_int8").Optional(),
		field.Int16("f_int16").Optional().Nillable(),
		field.Int32("f_int32").Immutable(),
		field.Int64("f_int64").StorageKey("c_int64"),
		field.Uint("f_uint"),
		field.Uint8("f_uint8").Optional(),
		field.Uint16("f_uint16").Optional().Nillable(),
		field.Uint32("f_uint32").Default(7),
		field.Uint64("f_uint64"),
		field.Float32("f_float32"),
		field.Float("f_float64").Optional().Nillable(),
		field.String("f_string").Sensitive(),
		field.Text("f_text").Optional(),
		field.Bool("f_bool").Optional(),
		field.Bytes("f_bytes").Optional().Nillable(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
		field.Time("f_time").Optional().Nillable(),
		field.JSON("f_json", kindtype.Meta{}).Optional(),
		field.Strings("f_strings").Optional(),
		field.Enum("f_enum").Values("a", "b").Default("a"),
		field.Enum("f_color").GoType(kindtype.Color("")).Optional(),
		field.UUID("f_uuid", uuid.UUID{}).Default(uuid.New),
		field.UUID("f_uuid_ptr", uuid.UUID{}).Optional().Nillable(),
		field.Other("f_money", kindtype.Money(0)).SchemaType(text).Optional(),
		field.String("f_code").GoType(&kindtype.Code{}),
		field.String("f_null").GoType(kindtype.NullText{}).Optional(),
		field.String("f_nullstr").GoType(sql.NullString{}).Optional(),
		field.Time("f_nulltime").GoType(sql.NullTime{}).Optional(),
		field.Int16("f_level").GoType(kindtype.Level(0)).Default(1),
		field.String("f_label").GoType(kindtype.Label("")).Optional(),
		field.String("f_url").GoType(&url.URL{}).ValueScanner(field.BinaryValueScanner[*url.URL]{}).Optional(),
	}
}

// Annotations of the KindAll.
func (KindAll) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("f_int"),
		cachemodel.PublishBy("f_int8"),
		cachemodel.PublishBy("f_int16"),
		cachemodel.PublishBy("f_int32"),
		cachemodel.PublishBy("f_int64"),
		cachemodel.PublishBy("f_uint"),
		cachemodel.PublishBy("f_uint8"),
		cachemodel.PublishBy("f_uint16"),
		cachemodel.PublishBy("f_uint32"),
		cachemodel.PublishBy("f_uint64"),
		cachemodel.PublishBy("f_uuid_ptr"),
		cachemodel.PublishBy("f_code"),
		cachemodel.PublishBy("f_null"),
		cachemodel.PublishBy("f_nullstr"),
		cachemodel.PublishBy("f_level"),
		cachemodel.PublishBy("f_label"),
		cachemodel.PublishBy("f_color"),
		cachemodel.PublishBy("f_enum", "f_bool"),
	}
}
