package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/nation"
)

type nationJSON struct {
	ID          int64    `json:"id"`
	Slug        string   `json:"slug"`
	Name        string   `json:"name"`
	Parent      string   `json:"parent,omitempty"`
	DefaultLang string   `json:"default_lang"`
	Languages   []string `json:"languages"`
	Country     string   `json:"country,omitempty"`
	TimeZone    string   `json:"timezone"`
}

func toNationJSON(n *nation.Nation, parent string) nationJSON {
	return nationJSON{ID: n.ID, Slug: n.Slug, Name: n.Name, Parent: parent, DefaultLang: n.DefaultLang,
		Languages: n.Languages, Country: n.Country, TimeZone: n.TimeZone}
}

func runNationCreate(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("nation create", e.stderr)
	cfg.RegisterStorage(fs)
	name := fs.String("name", "", "the nation's display `name` (required)")
	parent := fs.String("parent", "", "`slug` of the parent nation")
	lang := fs.String("lang", "en", "default `language`: en, fr or nl")
	langs := fs.String("languages", "en,fr,nl", "comma-separated `languages` offered on the public site")
	country := fs.String("country", "", "default `country` (ISO code, e.g. BE) for phone numbers")
	tz := fs.String("timezone", "UTC", "time `zone`, e.g. Europe/Brussels")
	jsonOut := fs.Bool("json", false, "print the created nation as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one SLUG: muster nation create SLUG --name NAME [--parent SLUG]")
	}
	if strings.TrimSpace(*name) == "" {
		return usagef("--name is required")
	}
	if err := nation.ValidateSlug(pos[0]); err != nil {
		return err
	}
	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := nation.NewStore(db).Create(ctx, nation.NewNation{
		Slug: pos[0], Name: *name, ParentSlug: *parent, DefaultLang: *lang,
		Languages: splitList(*langs), Country: *country, TimeZone: *tz,
	})
	if err != nil {
		return err
	}
	if *jsonOut {
		return printJSON(e.stdout, toNationJSON(n, *parent))
	}
	fmt.Fprintf(e.stdout, "created nation %s (%s)\n", n.Slug, n.Name)
	return nil
}

func runNationList(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("nation list", e.stderr)
	cfg.RegisterStorage(fs)
	jsonOut := fs.Bool("json", false, "print {\"nations\":[…]} as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	ns, err := nation.NewStore(db).List(ctx)
	if err != nil {
		return err
	}
	slugs := map[int64]string{}
	for _, n := range ns {
		slugs[n.ID] = n.Slug
	}
	if *jsonOut {
		out := []nationJSON{}
		for _, n := range ns {
			out = append(out, toNationJSON(n, slugs[n.ParentID]))
		}
		return printJSON(e.stdout, map[string]any{"nations": out})
	}
	for _, n := range ns {
		parent := ""
		if n.ParentID != 0 {
			parent = " (child of " + slugs[n.ParentID] + ")"
		}
		fmt.Fprintf(e.stdout, "%-24s %s%s\n", n.Slug, n.Name, parent)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
