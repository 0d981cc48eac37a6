//go:build ignore

package main

import (
	"log"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/entcachemodel/entcachemodel/entcachemodel/cachegen"
)

func main() {
	err := entc.Generate("./schema", &gen.Config{
		Features: []gen.Feature{gen.FeatureUpsert},
	}, entc.Extensions(cachegen.NewExtension()))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
