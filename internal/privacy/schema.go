package privacy

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// Validate checks a decoded JSON document against a decoded JSON Schema,
// for the subset of JSON Schema (draft 2020-12) that the published export
// schema uses: type (a name or a list), properties, required,
// additionalProperties false, items, enum, minimum and format date-time.
// Other keywords are ignored, so it proves the export's shape, not full
// conformance; it returns every problem with its JSON path.
func Validate(schema, doc any) []string {
	var out []string
	validate(schema, doc, "$", &out)
	return out
}

func validate(schema, v any, path string, out *[]string) {
	s, ok := schema.(map[string]any)
	if !ok {
		return
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				if n, ok := x.(string); ok {
					types = append(types, n)
				}
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return hasType(v, t) }) {
			*out = append(*out, fmt.Sprintf("%s: want %v, got %T", path, types, v))
			return
		}
	}
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, v) {
		*out = append(*out, fmt.Sprintf("%s: %v is not one of %v", path, v, e))
	}
	if m, ok := s["minimum"].(float64); ok {
		if f, ok := v.(float64); ok && f < m {
			*out = append(*out, fmt.Sprintf("%s: %v is below %v", path, f, m))
		}
	}
	if s["format"] == "date-time" {
		if str, ok := v.(string); ok {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				*out = append(*out, fmt.Sprintf("%s: %q is not a date-time", path, str))
			}
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if k, ok := r.(string); ok {
					if _, has := v[k]; !has {
						*out = append(*out, fmt.Sprintf("%s: missing %q", path, k))
					}
				}
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k]; ok {
				validate(ps, v[k], path+"."+k, out)
			} else if s["additionalProperties"] == false {
				*out = append(*out, fmt.Sprintf("%s: unexpected property %q", path, k))
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, x := range v {
				validate(items, x, fmt.Sprintf("%s[%d]", path, i), out)
			}
		}
	}
}

func hasType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	}
	return false
}
