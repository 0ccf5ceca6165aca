// Package web holds Muster's templates, default theme and static assets,
// embedded into the binary so that `muster serve` needs no files beside it.
package web

import "embed"

// FS is the embedded tree: templates/ and static/.
//
//go:embed templates static
var FS embed.FS
