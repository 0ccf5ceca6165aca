package people

import (
	"context"
	"strconv"
	"strings"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// CustomField is a field a nation defines for its people.
type CustomField struct {
	ID      int64
	Name    string
	Kind    string   // text, number, date, bool, choice
	Choices []string // for choice
}

// CustomKinds are the kinds a custom field may have.
var CustomKinds = []string{"text", "number", "date", "bool", "choice"}

// DefineCustomField creates a custom field of the nation.
func (s *Store) DefineCustomField(ctx context.Context, nationID int64, name, kind string, choices []string) (CustomField, error) {
	name = NormaliseName(name)
	if name == "" || len(name) > 100 {
		return CustomField{}, errs.InvalidField("name", "a custom field needs a name of at most 100 characters")
	}
	if !contains(CustomKinds, kind) {
		return CustomField{}, errs.InvalidField("kind", "unknown custom field kind %q", clip(kind, 20))
	}
	if kind == "choice" && len(choices) == 0 {
		return CustomField{}, errs.InvalidField("choices", "a choice field needs choices")
	}
	id, err := s.db.NextID(ctx, nationID, "custom_fields")
	if err != nil {
		return CustomField{}, wrap("define custom field", err)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO custom_fields (nation_id, id, name, kind, choices, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		nationID, id, name, kind, strings.Join(choices, "\n"), s.now().UnixMilli())
	if store.IsUniqueViolation(err) {
		return CustomField{}, errs.Conflict("a custom field named %q exists already", name)
	}
	if err != nil {
		return CustomField{}, wrap("define custom field", err)
	}
	return CustomField{ID: id, Name: name, Kind: kind, Choices: choices}, nil
}

// CustomFields lists the nation's custom fields by name.
func (s *Store) CustomFields(ctx context.Context, nationID int64) ([]CustomField, error) {
	return listCustomFields(ctx, s.db, nationID)
}

func listCustomFields(ctx context.Context, q querier, nationID int64) ([]CustomField, error) {
	rows, err := q.Query(ctx, `SELECT id, name, kind, choices FROM custom_fields WHERE nation_id = ? ORDER BY name`, nationID)
	if err != nil {
		return nil, wrap("list custom fields", err)
	}
	defer rows.Close()
	var out []CustomField
	for rows.Next() {
		var f CustomField
		var choices string
		if err := rows.Scan(&f.ID, &f.Name, &f.Kind, &choices); err != nil {
			return nil, wrap("list custom fields", err)
		}
		if choices != "" {
			f.Choices = strings.Split(choices, "\n")
		}
		out = append(out, f)
	}
	return out, wrap("list custom fields", rows.Err())
}

// normalise checks a raw value against the field's kind and returns the
// stored form: numbers canonical, dates YYYY-MM-DD, booleans "1"/"0",
// choices as defined (matched case-insensitively).
func (d *customDef) normalise(raw string) (string, error) {
	v := NormaliseName(raw)
	if v == "" {
		return "", nil
	}
	field := "custom." + d.name
	switch d.kind {
	case "number":
		f, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", "."), 64)
		if err != nil {
			return "", errs.InvalidField(field, "%s: not a number", d.name)
		}
		return formatFloat(f), nil
	case "date":
		s, err := NormaliseDate(v)
		if err != nil {
			return "", renameField(err, field)
		}
		return s, nil
	case "bool":
		switch strings.ToLower(v) {
		case "1", "yes", "y", "true", "oui", "ja", "x":
			return "1", nil
		case "0", "no", "n", "false", "non", "nee":
			return "0", nil
		}
		return "", errs.InvalidField(field, "%s: use yes or no", d.name)
	case "choice":
		for _, c := range d.choices {
			if strings.EqualFold(c, v) {
				return c, nil
			}
		}
		return "", errs.InvalidField(field, "%s: not one of the choices", d.name)
	}
	return clipRunes(v, 1000), nil
}
