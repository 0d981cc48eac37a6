package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	cachemodel "github.com/entcachemodel/entcachemodel/annotations"
	"github.com/entcachemodel/entcachemodel/internal/broad/broadtype"
)

// Scalar has every ent field type, in Optional, Nillable, Sensitive,
// Immutable, StorageKey and GoType variants, and publishes a lookup of
// each kind the cache supports.
type Scalar struct {
	ent.Schema
}

// Fields of the Scalar.
func (Scalar) Fields() []ent.Field {
	return []ent.Field{
		field.Int("i").Default(0),
		field.Int8("i8").Default(0),
		field.Int16("i16").Optional(),
		field.Int32("i32").Optional().Nillable(),
		field.Int64("i64").Default(0),
		field.Uint("u").Default(0),
		field.Uint8("u8").Optional(),
		field.Uint16("u16").Optional().Nillable(),
		field.Uint32("u32").Default(0),
		field.Uint64("u64").Default(0),
		field.Float32("f32").Default(0),
		field.Float("f64").Optional().Nillable(),
		field.String("s").Unique(),
		field.Text("text").Optional(),
		field.String("opt_s").Optional(),
		field.String("nil_s").Optional().Nillable(),
		field.Bool("b").Default(false),
		field.Bool("nil_b").Optional().Nillable(),
		field.Bytes("bytes").Optional(),
		field.Bytes("nil_bytes").Optional().Nillable(),
		field.Time("t").Default(broadtype.Now).UpdateDefault(broadtype.Now),
		field.Time("nil_t").Optional().Nillable(),
		field.JSON("j_map", map[string]int{}).Optional(),
		field.JSON("j_list", []string{}).Optional(),
		field.JSON("j_point", broadtype.Point{}).Optional(),
		field.JSON("j_ptr", &broadtype.Point{}).Optional(),
		field.Enum("e").Values("red", "green", "blue").Default("red"),
		field.Enum("nil_e").Values("x", "y").Optional().Nillable(),
		field.Enum("level").GoType(broadtype.Level("")).Default("low"),
		field.UUID("uid", uuid.UUID{}).Default(broadtype.NewUUID).Unique(),
		field.UUID("nil_uid", uuid.UUID{}).Optional().Nillable(),
		field.String("handle").GoType(broadtype.Handle("")).Default(""),
		field.Int64("cents").GoType(broadtype.Cents(0)).Default(0),
		field.String("secret").Sensitive().Default(""),
		field.String("frozen").Immutable().Default(""),
		field.String("renamed").StorageKey("old_name").Default(""),
		field.Other("other", &broadtype.Decimal{}).SchemaType(broadtype.DecimalSchemaType).Optional(),
		field.String("null_s").GoType(&broadtype.NullString{}).Optional(),
		field.String("vs").GoType(broadtype.Upper("")).ValueScanner(broadtype.UpperValueScanner).Optional(),
	}
}

// Indexes of the Scalar.
func (Scalar) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("i8", "e").Unique(),
	}
}

// Annotations of the Scalar.
func (Scalar) Annotations() []schema.Annotation {
	return []schema.Annotation{
		cachemodel.PublishBy("s"),
		cachemodel.PublishBy("i"),
		cachemodel.PublishBy("i8", "e"),
		cachemodel.PublishBy("i32"),
		cachemodel.PublishBy("i64"),
		cachemodel.PublishBy("b", "level"),
		cachemodel.PublishBy("nil_s"),
		cachemodel.PublishBy("nil_b"),
		cachemodel.PublishBy("nil_e"),
		cachemodel.PublishBy("uid"),
		cachemodel.PublishBy("handle"),
		cachemodel.PublishBy("cents"),
		cachemodel.PublishBy("frozen"),
		cachemodel.PublishBy("renamed"),
		cachemodel.PublishBy("u"),
		cachemodel.PublishBy("u64"),
		cachemodel.PublishBy("u16"),
		cachemodel.PublishBy("nil_uid"),
		cachemodel.PublishBy("opt_s"),
		cachemodel.PublishBy("i16"),
	}
}
