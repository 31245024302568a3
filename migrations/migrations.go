// Package migrations holds syncd's PostgreSQL schema as numbered SQL files
// embedded in the binary, so `syncd migrate` and every start apply the schema
// that matches the code without shipping files beside it. Files are named
// NNNN_name.sql and applied in name order, each in its own transaction, by
// internal/state; a file once released is never edited, only followed by a
// new one.
package migrations

import "embed"

// FS holds the migration files at its root.
//
//go:embed *.sql
var FS embed.FS
