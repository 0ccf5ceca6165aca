package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
)

// pageTagFlags is a flag that may be given several times (--tag a --tag b).
type pageTagFlags []string

func (r *pageTagFlags) String() string     { return strings.Join(*r, ",") }
func (r *pageTagFlags) Set(v string) error { *r = append(*r, v); return nil }

var _ flag.Value = (*pageTagFlags)(nil)

func runPageCreate(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("page create", e.stderr)
	cfg.RegisterStorage(fs)
	slug := fs.String("nation", "", "`slug` of the nation (required)")
	typ := fs.String("type", "", "page `type`: petition, signup, volunteer, topics or basic (required)")
	pageSlug := fs.String("slug", "", "the page's short name in its address (required)")
	title := fs.String("title", "", "the page's `title` (required)")
	goal := fs.Int64("goal", 0, "petition: number of signatures sought")
	bodyFile := fs.String("body", "", "`file` holding the page text (Markdown)")
	var tags pageTagFlags
	fs.Var(&tags, "tag", "`tag` added to everyone who submits the form (repeatable)")
	lang := fs.String("lang", "", "`language` of --title and --body: en, fr or nl (default: the nation's)")
	// A translation into LANG is --title-LANG (and --body-LANG when the
	// page has a --body), one pair per language Muster speaks.
	trTitles, trBodies := map[string]*string{}, map[string]*string{}
	for _, l := range nation.SupportedLanguages {
		trTitles[l] = fs.String("title-"+l, "", "translation: the `title` in "+i18n.Names[l]+" ("+l+")")
		trBodies[l] = fs.String("body-"+l, "", "translation: `file` holding the text in "+i18n.Names[l]+" ("+l+"), needed with --body")
	}
	publish := fs.Bool("publish", false, "publish the page at once (default: draft)")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	switch {
	case *slug == "":
		return usagef("--nation is required")
	case *typ == "":
		return usagef("--type is required (petition, signup, volunteer, topics or basic)")
	case *typ == pages.TypeHome || !slices.Contains(pages.Types, *typ):
		return usagef("unknown --type %q (petition, signup, volunteer, topics or basic)", *typ)
	case *pageSlug == "":
		return usagef("--slug is required")
	case *title == "":
		return usagef("--title is required")
	}
	readBody := func(flagName, file string) (string, error) {
		if file == "" {
			return "", nil
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			return "", usagef("--%s: %v", flagName, err)
		}
		return string(raw), nil
	}
	body, err := readBody("body", *bodyFile)
	if err != nil {
		return err
	}
	var translations []pages.Translation
	for _, l := range nation.SupportedLanguages {
		if *trTitles[l] == "" && *trBodies[l] == "" {
			continue
		}
		if *trTitles[l] == "" {
			return usagef("--body-%s needs --title-%s", l, l)
		}
		trBody, err := readBody("body-"+l, *trBodies[l])
		if err != nil {
			return err
		}
		translations = append(translations, pages.Translation{Lang: l, Title: *trTitles[l], Body: trBody})
	}
	bundle, err := i18n.Load()
	if err != nil {
		return err
	}
	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := nation.NewStore(db).BySlug(ctx, *slug)
	if err != nil {
		return err
	}
	p := &pages.Page{NationID: n.ID, Type: *typ, Slug: *pageSlug, Title: *title, Body: body, Goal: *goal,
		Lang: *lang, Translations: translations,
		Status: pages.StatusDraft, Settings: pages.DefaultSettings(*typ, n.Languages, bundle.T)}
	if p.Lang == "" {
		p.Lang = n.DefaultLang
	}
	if *publish {
		p.Status = pages.StatusPublished
	}
	p.Settings.Tags = tags
	if ps := p.Validate(n.Languages); len(ps) > 0 {
		msgs := ps.Translate(func(key string, args ...any) string { return bundle.T("en", key, args...) })
		pr := ps[0]
		return errs.InvalidField(pr.Field, "--%s: %s", flagOf(pr.Field), msgs[pr.Field])
	}
	if err := pages.NewStore(db).Create(ctx, p); err != nil {
		if errs.FieldOf(err) == "slug" {
			return errs.Conflict("--slug: a page %q already exists in nation %s", p.Slug, n.Slug)
		}
		return err
	}
	if *jsonOut {
		return printJSON(e.stdout, map[string]any{"id": p.ID, "nation": n.Slug, "slug": p.Slug, "type": p.Type,
			"title": p.Title, "status": p.Status, "url": "/" + n.Slug + "/" + p.Slug})
	}
	fmt.Fprintf(e.stdout, "created %s page %s (%s) in %s: /%s/%s\n", p.Type, p.Slug, p.Status, n.Slug, n.Slug, p.Slug)
	return nil
}

// flagOf names the command-line flag of a page field in error messages:
// a translation's title_fr is --title-fr.
func flagOf(field string) string {
	switch field {
	case "tags":
		return "tag"
	case "translations":
		return "title-LANG"
	}
	return strings.ReplaceAll(field, "_", "-")
}
