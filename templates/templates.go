// Package templates holds the ent templates that entcachemodel/cachegen
// renders into a project's ent package.
package templates

import "embed"

// FS holds the .tmpl files.
//
//go:embed *.tmpl
var FS embed.FS
