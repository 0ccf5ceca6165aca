package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/segment"
)

// runSegmentCount prints how many people of a nation match a filter.
func runSegmentCount(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("segment count", e.stderr)
	cfg.RegisterStorage(fs)
	slug := fs.String("nation", "", "`slug` of the nation (required)")
	jsonOut := fs.Bool("json", false, `print {"count":N,"ms":M}`)
	flags, expr := splitFilterArgs(args, map[string]bool{"nation": true, "data": true, "database": true, "json": false})
	if err := fs.Parse(flags); err != nil {
		return err
	}
	if *slug == "" {
		return usagef("--nation is required")
	}
	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	nations := nation.NewStore(db)
	n, err := nations.BySlug(ctx, *slug)
	if err != nil {
		return err
	}
	svc := segment.NewService(db, segment.Options{Zone: nationZone(nations)})
	start := time.Now()
	count, err := svc.Count(ctx, n.ID, expr)
	if err != nil {
		return err
	}
	if *jsonOut {
		return printJSON(e.stdout, map[string]int64{"count": count, "ms": time.Since(start).Milliseconds()})
	}
	fmt.Fprintln(e.stdout, count)
	return nil
}

// nationZone gives the segment service each nation's time zone.
func nationZone(nations *nation.Store) func(ctx context.Context, id int64) (*time.Location, error) {
	return func(ctx context.Context, id int64) (*time.Location, error) {
		n, err := nations.ByID(ctx, id)
		if err != nil {
			return nil, err
		}
		loc, err := time.LoadLocation(n.TimeZone)
		if err != nil {
			return time.UTC, nil
		}
		return loc, nil
	}
}

// splitFilterArgs separates the known flags (name → takes a value) from the
// filter words, which may themselves start with "-" (-tag:member) and so
// cannot go through the flag package. Everything after "--" is filter.
func splitFilterArgs(args []string, known map[string]bool) (flags []string, expr string) {
	var words []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			words = append(words, args[i+1:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesValue, isFlag := known[name]
		if (strings.HasPrefix(a, "--") || (strings.HasPrefix(a, "-") && !strings.Contains(a, ":"))) &&
			(isFlag || name == "h" || name == "help") {
			flags = append(flags, a)
			if isFlag && takesValue && !hasValue && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		words = append(words, a)
	}
	return flags, strings.Join(words, " ")
}
