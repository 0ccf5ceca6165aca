package people

import (
	"strings"

	"github.com/muster-org/muster/internal/crypt"
)

// Tags marked sensitive keep no plaintext in their row: tags.name is sealed
// and tags.key is a blind index of the lower-cased name (crypt.MarkTag,
// docs/privacy.md "Encryption"). Resolving a tag by name therefore looks up
// both the plain key and its blind index, and reads the row through the
// nation's key; the same tag id is found whether the tag is sensitive or not.

// tagLookupKeys returns the stored keys that may hold the tags of the given
// plain keys: each key and its blind index.
func tagLookupKeys(k *crypt.NationKey, keys []string) []string {
	out := make([]string, 0, 2*len(keys))
	for _, key := range keys {
		out = append(out, k.TagKeys(key)...)
	}
	return out
}

// tagDetails returns the details of a timeline entry listing the tags
// given: sealed when one of them is sensitive.
func tagDetails(k *crypt.NationKey, names []string, sensitive bool) string {
	if len(names) == 0 {
		return ""
	}
	d := "tags: " + strings.Join(names, ", ")
	if sensitive {
		d = k.SealDetails(d)
	}
	return d
}
