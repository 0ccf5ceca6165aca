package people

import (
	"context"
	"fmt"
	"strconv"

	"github.com/muster-org/muster/internal/crypt"
)

// Opinion fields are stored sealed under the nation's key (internal/crypt,
// docs/privacy.md "Encryption"). In memory the upsert and merge engines keep
// the sealed form of the support level (vals[cSupport]): it is deterministic,
// so comparing two sealed values compares the levels. prepare writes the
// plain level; sealAll replaces it before anything is compared or written.

// nationKey returns the nation's data key. Call it outside a transaction: on
// first use it creates the key through the writer.
func (s *Store) nationKey(ctx context.Context, nationID int64) (*crypt.NationKey, error) {
	k, err := crypt.NationKeyOf(ctx, s.db, nationID)
	if err != nil {
		return nil, fmt.Errorf("people: nation key: %w", err)
	}
	return k, nil
}

// sealAll seals the support level of prepared records.
func sealAll(preps []prepared, key *crypt.NationKey) {
	for i := range preps {
		if v := preps[i].v[cSupport]; v != "" {
			n, _ := strconv.Atoi(v)
			preps[i].v[cSupport] = key.SealSupport(n)
		}
	}
}

// openSupport returns the support level of a stored sealed value.
func (s *Store) openSupport(ctx context.Context, nationID int64, sealed string) (int, error) {
	if sealed == "" {
		return 0, nil
	}
	k, err := crypt.ReadKeyOf(ctx, s.db, nationID)
	if err != nil {
		return 0, fmt.Errorf("people: nation key: %w", err)
	}
	n, err := k.OpenSupport(sealed)
	if err != nil {
		return 0, fmt.Errorf("people: open support level: %w", err)
	}
	return n, nil
}

// openNotes opens the sealed details among acts, in place: notes, and the
// entries naming a tag marked sensitive.
func (s *Store) openNotes(ctx context.Context, nationID int64, acts []Activity) error {
	var k *crypt.NationKey
	for i := range acts {
		if !crypt.IsSealed(acts[i].Details) {
			continue
		}
		if k == nil {
			var err error
			if k, err = crypt.ReadKeyOf(ctx, s.db, nationID); err != nil {
				return fmt.Errorf("people: nation key: %w", err)
			}
		}
		acts[i].Details = k.OpenDetails(acts[i].Type, acts[i].Details)
	}
	return nil
}

// openTags opens, in place, the names at the given indexes of names: tags
// marked sensitive, whose names are stored sealed.
func (s *Store) openTags(ctx context.Context, nationID int64, names []string, sealed []int) error {
	if len(sealed) == 0 {
		return nil
	}
	k, err := crypt.ReadKeyOf(ctx, s.db, nationID)
	if err != nil {
		return fmt.Errorf("people: nation key: %w", err)
	}
	for _, i := range sealed {
		names[i], _ = k.OpenTagRow(names[i], "", true)
	}
	return nil
}
