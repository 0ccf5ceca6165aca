package people

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"math"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// bulkBatch is the batch size from which UpsertBatch tunes the connection
// for bulk writing.
const bulkBatch = 1000

// errDryRun rolls a dry run's transaction back.
var errDryRun = errors.New("people: dry run")

// Upsert matches one record (a form, the API, a staff entry) and creates or
// updates the person, exactly as UpsertBatch does for a batch of one.
func (s *Store) Upsert(ctx context.Context, nationID int64, rec Record, src Source, opt UpsertOptions) (RowResult, error) {
	res, err := s.UpsertBatch(ctx, nationID, []Record{rec}, []Source{src}, opt)
	if err != nil {
		return RowResult{}, err
	}
	return res[0], nil
}

// UpsertBatch matches each record to a person of the nation and creates or
// updates people accordingly, in ONE transaction: either the whole batch is
// written or nothing is. It returns one RowResult per record, in order.
//
// srcs gives each record's source (import line, form, …); it may be nil or
// shorter than recs, and a zero Source falls back to opt.Source.
//
// Matching, in order: nationbuilder_id, civicrm_id, external_id → any of
// the record's normalised e-mails → E.164 mobile, then landline. Earlier
// records of the same batch count too (a file's duplicate rows update the
// person the first one created). Same first name + last name + postcode only
// PROPOSES a duplicate (see ListDuplicates); it never merges by itself.
//
// Updating: blank fields are filled; conflicting non-empty values are kept
// unless opt.Overwrite (the primary e-mail is never replaced: further e-mails
// are added to the person); tags are unioned; consents become ledger entries
// only when they change the person's current state for that channel. Every
// change is an activity on the timeline whose fields column is the
// provenance of the values set. Applying the same records again changes
// nothing: no activity, no consent, no updated_at bump.
//
// Bad input: a record with no identity is Rejected; a malformed field is
// listed in RowResult.FieldErrors and dropped, and the rest of the row
// stands. The returned error is for failures of the database only.
//
// Performance: candidates are looked up with a few set queries per batch,
// each with its values as ONE argument (a PostgreSQL array, an SQLite JSON
// array); rows are written per table with one INSERT … SELECT FROM unnest()
// on PostgreSQL and reused multi-row INSERTs on SQLite; normalisation runs
// on every core. A few thousand records per batch is the sweet spot. The
// database work of a batch is single-threaded, so a caller streaming a
// file gains by reading and normalising the next batch in another goroutine
// (PrepareBatch) while this one writes (UpsertPrepared), as the importer
// does. UpsertBatch is safe for concurrent use.
func (s *Store) UpsertBatch(ctx context.Context, nationID int64, recs []Record, srcs []Source, opt UpsertOptions) ([]RowResult, error) {
	return s.upsertBatch(ctx, nationID, recs, nil, srcs, opt)
}

// Prepared is a batch of records normalised ahead of writing (see
// PrepareBatch).
type Prepared struct {
	recs    []Record
	country string
	tags    []string
	preps   []prepared
}

// PrepareBatch normalises recs outside any transaction, so that a caller
// streaming a file can normalise the next batch on the other cores while
// UpsertPrepared writes this one. opt must be the options later given to
// UpsertPrepared (its Tags are applied here).
func (s *Store) PrepareBatch(ctx context.Context, nationID int64, recs []Record, opt UpsertOptions) (*Prepared, error) {
	country, err := s.countryOf(ctx, s.db, nationID)
	if err != nil {
		return nil, err
	}
	t := opt.Timings.start()
	defer opt.Timings.lap("normalise records (beside the writer, on every core)", t)
	return &Prepared{recs: recs, country: country, tags: slices.Clone(opt.Tags), preps: prepareAll(recs, country, opt.Tags)}, nil
}

// UpsertPrepared is UpsertBatch for records PrepareBatch normalised. Should
// the nation's default country or the extra tags have changed since, the
// records are normalised again.
func (s *Store) UpsertPrepared(ctx context.Context, nationID int64, p *Prepared, srcs []Source, opt UpsertOptions) ([]RowResult, error) {
	return s.upsertBatch(ctx, nationID, p.recs, p, srcs, opt)
}

func (s *Store) upsertBatch(ctx context.Context, nationID int64, recs []Record, pre *Prepared, srcs []Source, opt UpsertOptions) ([]RowResult, error) {
	var results []RowResult
	key, err := s.nationKey(ctx, nationID) // before the transaction: it may create the key
	if err != nil {
		return nil, err
	}
	tm := opt.Timings
	for attempt := 0; ; attempt++ {
		var pendingSeq int64
		var t time.Time // the start of the stage being timed
		err := s.db.InTx(ctx, func(tx *store.Tx) error {
			t = tm.start()
			if tx.Engine() == store.Postgres {
				// The batch's statements are few and their array arguments
				// vary a lot in size: plan each with its real values rather
				// than a generic plan made while the table was still small.
				if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
					return err
				}
				// The look-ups fetch a few thousand scattered rows of a
				// table whose hot pages are in memory: at the default cost
				// of a random page (4, a spinning disk's) the planner
				// preferred reading all of a nation's people, 80 ms per
				// look-up at 200k people against a few ms by index.
				if _, err := tx.Exec(ctx, `SET LOCAL random_page_cost = 1.1`); err != nil {
					return err
				}
			} else if len(recs) >= bulkBatch {
				// A bulk import inserts into every index of people at random
				// places: once the indexes outgrow the default page cache
				// (32 MB) each insert rereads pages from the OS. This
				// writer connection (there is only one) keeps a larger cache
				// from then on. 64 MiB: measured at 200k rows, 256 MiB saved
				// little CPU but cost 330 MiB of resident memory (SQLite's
				// per-page overhead), against a 500 MiB budget.
				if _, err := tx.Exec(ctx, `PRAGMA cache_size = -65536`); err != nil {
					return err
				}
			}
			// With a key filter, the batch first adds the keys of the people
			// others changed since the last batch (KeyFilter.catchUp). On
			// SQLite the batch takes its change sequence number first: the
			// one writer is held anyway. On PostgreSQL taking it would lock
			// the nation's change counter for the whole batch and make every
			// form submission wait, so the batch catches up on what is
			// committed, and again at the end, under its number, on what
			// committed meanwhile.
			var seq, seen int64
			if opt.Keys != nil {
				var err error
				upTo := int64(math.MaxInt64)
				if tx.Engine() == store.SQLite {
					if seq, err = tx.NextID(ctx, nationID, changes.Counter); err != nil {
						return err
					}
					upTo = seq
				}
				if seen, err = opt.Keys.catchUp(ctx, tx, opt.Keys.seq.Load(), upTo); err != nil {
					return wrap("key filter", err)
				}
			}
			t = tm.lap("set-up and key filter", t)
			b := &batch{s: s, tx: tx, nationID: nationID, opt: opt, key: key, keys: opt.Keys}
			var err error
			results, err = b.run(ctx, recs, pre, srcs)
			if err != nil {
				return err
			}
			t = tm.start()
			if opt.Keys != nil {
				opt.Keys.addRecords(b.preps)
			}
			if opt.DryRun {
				return errDryRun
			}
			touched := make([]int64, 0, len(results))
			for _, r := range results {
				// Unchanged rows change nothing a segment sees: leaving them
				// out keeps a re-import free of writes.
				if r.PersonID != 0 && r.Outcome != Unchanged {
					touched = append(touched, r.PersonID)
				}
			}
			if opt.Then != nil {
				more, err := opt.Then(ctx, tx, results)
				if err != nil {
					return err
				}
				touched = append(touched, more...)
				slices.Sort(touched)
				touched = slices.Compact(touched)
			}
			if opt.Keys != nil && seq == 0 {
				var err error
				if seq, err = tx.NextID(ctx, nationID, changes.Counter); err != nil {
					return err
				}
				if _, err := opt.Keys.catchUp(ctx, tx, seen, seq); err != nil {
					return wrap("key filter", err)
				}
			}
			defer func() { t = tm.lap("change log", t) }()
			if seq != 0 {
				pendingSeq = seq
				return changes.RecordAt(ctx, tx, nationID, seq, touched...)
			}
			return changes.Record(ctx, tx, nationID, touched...)
		})
		tm.lap("commit", t)
		if err == nil && pendingSeq != 0 {
			opt.Keys.advance(pendingSeq)
		}
		if errors.Is(err, errDryRun) {
			for i := range results {
				if results[i].Outcome == Created {
					results[i].PersonID = 0
				}
			}
			return results, nil
		}
		// Two writers creating the same e-mail at once (PostgreSQL): run the
		// batch again; this time the other's person matches. Two import
		// batches creating the same new tags in other orders can deadlock;
		// PostgreSQL aborts one, which runs again.
		if err != nil && (store.IsUniqueViolation(err) || store.IsDeadlock(err)) && attempt < 2 {
			continue
		}
		if err != nil {
			return nil, wrap("upsert", err)
		}
		return results, nil
	}
}

// pstate is a person as the batch sees it: loaded from the database or
// created by an earlier record of the batch.
type pstate struct {
	id      int64
	v       vals
	isNew   bool
	dirty   bool // existing person whose people row must be updated
	tags    map[int64]bool
	consent map[string]string // channel → granted/withdrawn
	// consentWording is the wording hash of each channel's latest entry: a
	// fresh grant under other wording is new evidence, recorded even
	// though the status stays granted.
	consentWording map[string]string
	custom         map[int64]string
	addrs          map[string]addrVals
	notes          map[string]bool
	activity       int64 // latest activity time written by this batch
}

type customDef struct {
	id      int64
	name    string
	kind    string
	choices []string
}

type activityRow struct {
	personID int64
	typ      string
	src      Source
	fields   string
	details  string
	at       int64
}

type consentRow struct {
	personID           int64
	channel, status    string
	basis, wordingHash string
	src                Source
	at                 int64
}

type batch struct {
	s        *Store
	tx       *store.Tx
	nationID int64
	opt      UpsertOptions
	key      *crypt.NationKey // seals opinion fields
	keys     *KeyFilter       // nil: ask the database about every key
	preps    []prepared       // the batch's records, normalised
	now      int64

	byID                map[int64]*pstate
	byNB, byCivi, byExt map[string]*pstate
	byEmail, byPhone    map[string]*pstate
	tagIDs              map[string]int64
	tagNames            map[int64]string
	tagSealed           map[int64]bool // sensitive tags (tags_sealed.go)
	customDefs          map[string]*customDef
	idPool, idPoolEnd   int64

	created     []*pstate
	emailRows   [][]any
	taggingRows [][]any
	activities  []activityRow
	consents    []consentRow
	wordings    map[string]string
	customRows  [][]any
	addrRows    [][]any
	dupPairs    [][3]any        // a, b, reason
	erased      map[string]bool // "kind:hash" of identifiers an erasure suppressed (suppress.go)
}

func (b *batch) run(ctx context.Context, recs []Record, pre *Prepared, srcs []Source) ([]RowResult, error) {
	b.now = b.s.now().UnixMilli()
	country, err := b.s.countryOf(ctx, b.tx, b.nationID)
	if err != nil {
		return nil, err
	}
	var preps []prepared
	if pre != nil && pre.country == country && slices.Equal(pre.tags, b.opt.Tags) {
		// A copy: the batch changes its records in place (sealing), and a
		// retried transaction must start from the normalised values again.
		preps = slices.Clone(pre.preps)
	} else {
		preps = prepareAll(recs, country, b.opt.Tags)
	}
	tm := b.opt.Timings
	t := tm.start()
	sealAll(preps, b.key)
	b.preps = preps
	t = tm.lap("seal opinion fields", t)
	if err := b.load(ctx, preps); err != nil {
		return nil, err
	}
	if err := b.loadErased(ctx, preps); err != nil {
		return nil, err
	}
	t = tm.lap("look up people", t)
	results := make([]RowResult, len(recs))
	for i := range preps {
		src := b.opt.Source
		if i < len(srcs) && srcs[i] != (Source{}) {
			src = srcs[i]
		}
		results[i], err = b.apply(ctx, &preps[i], src, len(preps)-i)
		if err != nil {
			return nil, err
		}
	}
	t = tm.lap("match and apply", t)
	if err := b.proposeNameDuplicates(ctx, results); err != nil {
		return nil, err
	}
	tm.lap("look up same-name duplicates", t)
	if err := b.write(ctx); err != nil {
		return nil, err
	}
	return results, nil
}

// prepareAll normalises records on every core: phone parsing dominates the
// CPU cost of a batch and needs no database.
func prepareAll(recs []Record, country string, tags []string) []prepared {
	preps := make([]prepared, len(recs))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(recs)/256))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(recs); i += workers {
				preps[i] = prepare(&recs[i], country, tags)
			}
		}()
	}
	wg.Wait()
	return preps
}

// load finds every person any record may match, with the few set queries
// the batch needs, and the tag ids of the batch's tags.
func (b *batch) load(ctx context.Context, preps []prepared) error {
	b.byID = map[int64]*pstate{}
	b.byNB, b.byCivi, b.byExt = map[string]*pstate{}, map[string]*pstate{}, map[string]*pstate{}
	b.byEmail, b.byPhone = map[string]*pstate{}, map[string]*pstate{}
	b.wordings = map[string]string{}

	nb, civi, ext := set{}, set{}, set{}
	tagNames := map[string]string{}
	var hasConsent, hasCustom, hasAddr, hasNote, hasTags bool
	for i := range preps {
		p := &preps[i]
		if p.reject != nil {
			continue
		}
		nb.add(p.v[cNBID])
		civi.add(p.v[cCiviID])
		ext.add(p.v[cExtID])
		for _, t := range p.tags {
			if _, ok := tagNames[t.key]; !ok {
				tagNames[t.key] = t.name
			}
			hasTags = true
		}
		hasConsent = hasConsent || len(p.consents) > 0
		hasCustom = hasCustom || len(p.custom) > 0
		hasAddr = hasAddr || len(p.addrs) > 0
		hasNote = hasNote || p.note != ""
	}

	// First only the ids of the candidates, then each candidate's full row
	// ONCE (a person found by external id, e-mail and phone would otherwise
	// be read and scanned three times). In two rounds: the external ids
	// first; then the e-mails and phones, except those a record matched by
	// an external id shares with its person (on a re-import, all of them):
	// such a record is matched already, and its person's primary e-mail
	// and phones are on the person's row.
	var more []int64
	loadIDs := func(where string, values []string) error {
		q := `SELECT id FROM people WHERE nation_id = ? AND merged_into = 0 AND ` + where
		return eachIn(ctx, b.tx, q, []any{b.nationID}, values, func(rows *sql.Rows) error {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			more = append(more, id)
			return nil
		})
	}
	for _, w := range []struct {
		col string
		s   set
	}{{"nationbuilder_id", nb}, {"civicrm_id", civi}, {"external_id", ext}} {
		// "col <> ''" lets both engines use the partial index.
		if err := loadIDs(w.col+" <> '' AND "+w.col+" IN IN_LIST", b.keys.list(w.s)); err != nil {
			return wrap("match by "+w.col, err)
		}
	}
	if err := b.loadPeople(ctx, more); err != nil {
		return err
	}
	emails, phones := b.keysStillToFind(preps)
	more = more[:0]
	for _, col := range []string{"mobile_e164", "phone_e164"} {
		if err := loadIDs(col+" <> '' AND "+col+" IN IN_LIST", b.keys.list(phones)); err != nil {
			return wrap("match by "+col, err)
		}
	}
	// E-mails (all of a person's, not only the primary) and further phones
	// point at people by id.
	emailOwner := map[string]int64{}
	phoneOwner := map[string]int64{}
	err := eachIn(ctx, b.tx, `SELECT email_norm, person_id FROM person_emails WHERE nation_id = ? AND email_norm IN IN_LIST`,
		[]any{b.nationID}, b.keys.list(emails), func(rows *sql.Rows) error {
			var e string
			var id int64
			if err := rows.Scan(&e, &id); err != nil {
				return err
			}
			emailOwner[e] = id
			more = append(more, id)
			return nil
		})
	if err != nil {
		return wrap("match by email", err)
	}
	err = eachIn(ctx, b.tx, `SELECT e164, person_id FROM person_phones WHERE nation_id = ? AND e164 <> '' AND e164 IN IN_LIST`,
		[]any{b.nationID}, b.keys.list(phones), func(rows *sql.Rows) error {
			var e string
			var id int64
			if err := rows.Scan(&e, &id); err != nil {
				return err
			}
			phoneOwner[e] = id
			more = append(more, id)
			return nil
		})
	if err != nil {
		return wrap("match by phone", err)
	}
	if err := b.loadPeople(ctx, more); err != nil {
		return err
	}

	// Index in a stable order so that ties resolve the same way every run.
	ids := make([]int64, 0, len(b.byID))
	for id := range b.byID {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		p := b.byID[id]
		b.index(p)
		// A person's primary e-mail is among their person_emails rows;
		// keysStillToFind may have left it out of the look-up.
		if e := p.v[cEmailNorm]; e != "" && b.byEmail[e] == nil {
			b.byEmail[e] = p
		}
	}
	for e, id := range emailOwner {
		if p := b.byID[id]; p != nil {
			b.byEmail[e] = p
		}
	}
	for e, id := range phoneOwner {
		if p := b.byID[id]; p != nil && b.byPhone[e] == nil {
			b.byPhone[e] = p
		}
	}
	for _, id := range ids {
		p := b.byID[id]
		p.tags, p.consent, p.custom, p.addrs, p.notes = map[int64]bool{}, map[string]string{}, map[int64]string{}, map[string]addrVals{}, map[string]bool{}
		p.consentWording = map[string]string{}
	}

	if hasTags {
		if err := b.loadTags(ctx, tagNames); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return b.loadCustomDefs(ctx, hasCustom)
	}
	if hasTags {
		err := eachID(ctx, b.tx, `SELECT person_id, tag_id FROM taggings WHERE nation_id = ? AND person_id IN IN_LIST`,
			[]any{b.nationID}, ids, func(rows *sql.Rows) error {
				var pid, tid int64
				if err := rows.Scan(&pid, &tid); err != nil {
					return err
				}
				if p := b.byID[pid]; p != nil {
					p.tags[tid] = true
				}
				return nil
			})
		if err != nil {
			return wrap("load taggings", err)
		}
	}
	if hasConsent {
		err := eachID(ctx, b.tx, `SELECT person_id, channel, status, wording_hash FROM consents WHERE nation_id = ? AND person_id IN IN_LIST ORDER BY at, id`,
			[]any{b.nationID}, ids, func(rows *sql.Rows) error {
				var pid int64
				var ch, st, wh string
				if err := rows.Scan(&pid, &ch, &st, &wh); err != nil {
					return err
				}
				if p := b.byID[pid]; p != nil {
					p.consent[ch] = st
					p.consentWording[ch] = wh
				}
				return nil
			})
		if err != nil {
			return wrap("load consents", err)
		}
	}
	if hasCustom {
		err := eachID(ctx, b.tx, `SELECT person_id, field_id, value FROM custom_values WHERE nation_id = ? AND person_id IN IN_LIST`,
			[]any{b.nationID}, ids, func(rows *sql.Rows) error {
				var pid, fid int64
				var v string
				if err := rows.Scan(&pid, &fid, &v); err != nil {
					return err
				}
				if p := b.byID[pid]; p != nil {
					p.custom[fid] = v
				}
				return nil
			})
		if err != nil {
			return wrap("load custom values", err)
		}
	}
	if hasAddr {
		err := eachID(ctx, b.tx, `SELECT person_id, kind, line1, line2, city, postcode, region, country, lat, lng
			FROM person_addresses WHERE nation_id = ? AND person_id IN IN_LIST`,
			[]any{b.nationID}, ids, func(rows *sql.Rows) error {
				var pid int64
				var kind string
				var a [8]sql.NullString
				if err := rows.Scan(&pid, &kind, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6], &a[7]); err != nil {
					return err
				}
				var v addrVals
				for i := range a {
					v[i] = a[i].String
				}
				if p := b.byID[pid]; p != nil {
					p.addrs[kind] = v
				}
				return nil
			})
		if err != nil {
			return wrap("load addresses", err)
		}
	}
	if hasNote {
		err := eachID(ctx, b.tx, `SELECT person_id, details FROM activities WHERE nation_id = ? AND type = 'note' AND person_id IN IN_LIST`,
			[]any{b.nationID}, ids, func(rows *sql.Rows) error {
				var pid int64
				var d string
				if err := rows.Scan(&pid, &d); err != nil {
					return err
				}
				if p := b.byID[pid]; p != nil {
					p.notes[b.key.OpenNote(d)] = true
				}
				return nil
			})
		if err != nil {
			return wrap("load notes", err)
		}
	}
	return b.loadCustomDefs(ctx, hasCustom)
}

// loadPeople reads the rows of the people with the given ids the batch has
// not read yet.
func (b *batch) loadPeople(ctx context.Context, ids []int64) error {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return b.byID[id] != nil })
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	wanted := make(map[int64]bool, len(ids))
	for _, id := range ids {
		wanted[id] = true
	}
	// eachID may walk a range of ids: rows of ids not asked for are
	// skipped here and in the other loads.
	err := eachID(ctx, b.tx, `SELECT `+personSelect+` FROM people WHERE nation_id = ? AND merged_into = 0 AND id IN IN_LIST`,
		[]any{b.nationID}, ids, func(rows *sql.Rows) error {
			id, v, err := scanPerson(rows)
			if err == nil && wanted[id] && b.byID[id] == nil {
				b.byID[id] = &pstate{id: id, v: v}
			}
			return err
		})
	return wrap("load matches", err)
}

// keysStillToFind returns the e-mails and phones of the batch's records
// to look up after the external ids: all of those of a record no external
// id matched, and the e-mails other than its person's primary one of a
// record that was matched (they may belong to someone else). It indexes
// the people read so far by their external ids, lowest id first, as the
// final index of load does.
func (b *batch) keysStillToFind(preps []prepared) (emails, phones set) {
	ids := make([]int64, 0, len(b.byID))
	for id := range b.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		b.indexIDs(b.byID[id])
	}
	emails, phones = set{}, set{}
	for i := range preps {
		r := &preps[i]
		if r.reject != nil {
			continue
		}
		p, _ := b.matchByID(r)
		for _, e := range r.emails {
			if p == nil || e.norm != p.v[cEmailNorm] {
				emails.add(e.norm)
			}
		}
		if p == nil {
			phones.add(r.v[cMobileE164])
			phones.add(r.v[cPhoneE164])
		}
	}
	return emails, phones
}

// index makes p findable by its external ids and phones (first one wins).
func (b *batch) index(p *pstate) {
	b.indexIDs(p)
	putFirst(b.byPhone, p.v[cMobileE164], p)
	putFirst(b.byPhone, p.v[cPhoneE164], p)
}

// indexIDs makes p findable by its external ids (first one wins).
func (b *batch) indexIDs(p *pstate) {
	putFirst(b.byNB, p.v[cNBID], p)
	putFirst(b.byCivi, p.v[cCiviID], p)
	putFirst(b.byExt, p.v[cExtID], p)
}

func putFirst(m map[string]*pstate, k string, p *pstate) {
	if k != "" && m[k] == nil {
		m[k] = p
	}
}

// loadTags resolves tag keys to ids, creating the tags the nation lacks.
func (b *batch) loadTags(ctx context.Context, names map[string]string) error {
	b.tagIDs, b.tagNames, b.tagSealed = map[string]int64{}, map[int64]string{}, map[int64]bool{}
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	err := eachIn(ctx, b.tx, `SELECT id, key, name, sensitive FROM tags WHERE nation_id = ? AND key IN IN_LIST`,
		[]any{b.nationID}, tagLookupKeys(b.key, keys), func(rows *sql.Rows) error {
			var id, sens int64
			var k, n string
			if err := rows.Scan(&id, &k, &n, &sens); err != nil {
				return err
			}
			n, k = b.key.OpenTagRow(n, k, sens != 0)
			if prev, ok := b.tagIDs[k]; ok && sens == 0 && b.tagSealed[prev] {
				return nil // a sensitive row of the same name wins
			}
			b.tagIDs[k], b.tagNames[id], b.tagSealed[id] = id, n, sens != 0
			return nil
		})
	if err != nil {
		return wrap("load tags", err)
	}
	var missing []string
	for _, k := range keys {
		if _, ok := b.tagIDs[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	first, err := reserveIDs(ctx, b.tx, b.nationID, "tags", len(missing))
	if err != nil {
		return err
	}
	rows := make([][]any, len(missing))
	for i, k := range missing {
		id := first + int64(i)
		b.tagIDs[k], b.tagNames[id] = id, names[k]
		rows[i] = []any{b.nationID, id, names[k], k, b.now}
	}
	return wrap("create tags", insertRows(ctx, b.tx, "tags", []string{"nation_id", "id", "name", "key", "created_at"}, rows, ""))
}

func (b *batch) loadCustomDefs(ctx context.Context, need bool) error {
	b.customDefs = map[string]*customDef{}
	if !need {
		return nil
	}
	defs, err := listCustomFields(ctx, b.tx, b.nationID)
	if err != nil {
		return err
	}
	for i := range defs {
		d := defs[i]
		b.customDefs[strings.ToLower(d.Name)] = &customDef{id: d.ID, name: d.Name, kind: d.Kind, choices: d.Choices}
	}
	return nil
}

// newPerson takes an id from the batch's pool, reserving enough for the rest
// of the batch at once.
// reserve returns the first of n fresh ids for rows of kind name. On
// PostgreSQL they are reserved outside the batch's transaction (in their
// own, at once committed): a reservation inside it would hold the nation's
// counter row until the commit, and concurrent batches (two form
// submission batches, an import and a form) would wait for each other
// whole. A rolled-back batch leaves a gap, which ids allow. SQLite has one
// writer, which the transaction holds: the reservation goes inside it.
func (b *batch) reserve(ctx context.Context, name string, n int) (int64, error) {
	if b.tx.Engine() == store.Postgres {
		return b.s.db.NextIDs(ctx, b.nationID, name, int64(n))
	}
	return reserveIDs(ctx, b.tx, b.nationID, name, n)
}

func (b *batch) newPerson(ctx context.Context, remaining int) (*pstate, error) {
	if b.idPool == b.idPoolEnd {
		first, err := b.reserve(ctx, "people", remaining)
		if err != nil {
			return nil, err
		}
		b.idPool, b.idPoolEnd = first, first+int64(remaining)
	}
	p := &pstate{id: b.idPool, isNew: true, tags: map[int64]bool{}, consent: map[string]string{}, consentWording: map[string]string{},
		custom: map[int64]string{}, addrs: map[string]addrVals{}, notes: map[string]bool{}}
	b.idPool++
	b.byID[p.id] = p
	b.created = append(b.created, p)
	return p, nil
}

// match finds the person a record is about, following the matching order.
func (b *batch) match(r *prepared) (*pstate, string) {
	if p, by := b.matchByID(r); p != nil {
		return p, by
	}
	for _, e := range r.emails {
		if p := b.byEmail[e.norm]; p != nil {
			return p, "email"
		}
	}
	for _, k := range []string{r.v[cMobileE164], r.v[cPhoneE164]} {
		if p := b.byPhone[k]; k != "" && p != nil {
			return p, "phone"
		}
	}
	return nil, ""
}

// matchByID is the first rules of match: the external ids.
func (b *batch) matchByID(r *prepared) (*pstate, string) {
	for _, m := range []struct {
		idx map[string]*pstate
		key string
		by  string
	}{
		{b.byNB, r.v[cNBID], "nationbuilder_id"},
		{b.byCivi, r.v[cCiviID], "civicrm_id"},
		{b.byExt, r.v[cExtID], "external_id"},
	} {
		if m.key != "" && m.idx[m.key] != nil {
			return m.idx[m.key], m.by
		}
	}
	return nil, ""
}

// apply matches one prepared record and applies it to its person.
func (b *batch) apply(ctx context.Context, r *prepared, src Source, remaining int) (RowResult, error) {
	res := RowResult{FieldErrors: r.fieldErrs}
	if r.reject != nil {
		res.Outcome, res.Err = Rejected, r.reject
		return res, nil
	}
	at := millisOr(src.At, b.s.now())
	p, by := b.match(r)
	created := p == nil
	if created {
		reject, err := b.checkErased(ctx, r, src)
		if err != nil {
			return res, err
		}
		if reject != nil {
			res.Outcome, res.Err = Rejected, reject
			return res, nil
		}
		if p, err = b.newPerson(ctx, remaining); err != nil {
			return res, err
		}
	} else if p.isNew {
		by = "batch:" + by
	}
	res.PersonID, res.MatchedBy = p.id, by

	var changed []string
	other := false // a change outside the people row (e-mail, custom, address, consent)

	for _, f := range fields {
		if f.name == "email" || f.empty(&r.v) {
			continue
		}
		switch {
		case f.empty(&p.v):
		case f.equal(&p.v, &r.v) || !b.opt.Overwrite:
			continue
		}
		f.copy(&p.v, &r.v)
		changed = append(changed, f.name)
	}
	// E-mails: every one the record brings belongs to the person unless it
	// already belongs to someone else, which is a duplicate to propose.
	for _, e := range r.emails {
		owner := b.byEmail[e.norm]
		if owner == p {
			continue
		}
		if owner != nil {
			b.proposeDup(p.id, owner.id, "same_email")
			if res.DuplicateOf == 0 {
				res.DuplicateOf = owner.id
			}
			continue
		}
		primary := p.v[cEmailNorm] == ""
		if primary {
			p.v[cEmail], p.v[cEmailNorm] = e.display, e.norm
			changed = append(changed, "email")
		} else {
			other = true
			changed = append(changed, "emails")
		}
		b.byEmail[e.norm] = p
		b.emailRows = append(b.emailRows, []any{b.nationID, e.norm, p.id, e.display, store.Bool(primary), at})
	}
	changed = dedupe(changed)
	if len(changed) > 0 {
		b.index(p)
	}

	var tagged []string
	sealTagged := false
	for _, t := range r.tags {
		id := b.tagIDs[t.key]
		if p.tags[id] {
			continue
		}
		p.tags[id] = true
		sealTagged = sealTagged || b.tagSealed[id]
		tagged = append(tagged, b.tagNames[id])
		b.taggingRows = append(b.taggingRows, []any{b.nationID, p.id, id, at})
	}

	for _, c := range r.consents {
		st := "withdrawn"
		if c.Granted {
			st = "granted"
		}
		cur := p.consent[c.Channel]
		wh := WordingHash(c.Wording)
		if c.Wording == "" {
			wh = ""
		}
		// A grant with wording other than the latest entry's is recorded
		// even when consent was already granted: it is the evidence for
		// the wording the person saw last.
		rewording := st == "granted" && wh != "" && wh != p.consentWording[c.Channel]
		if (cur == st || (cur == "" && st == "withdrawn")) && !rewording {
			continue
		}
		p.consent[c.Channel] = st
		p.consentWording[c.Channel] = wh
		b.consents = append(b.consents, consentRow{p.id, c.Channel, st, c.Basis, b.wording(c.Wording), src, at})
		other = true
	}

	for name, raw := range r.custom {
		def := b.customDefs[strings.ToLower(strings.TrimSpace(name))]
		if def == nil {
			res.FieldErrors = append(res.FieldErrors, errs.InvalidField("custom."+clip(name, 40), "unknown custom field %q", clip(name, 40)))
			continue
		}
		v, err := def.normalise(raw)
		if err != nil {
			res.FieldErrors = append(res.FieldErrors, err)
			continue
		}
		cur := p.custom[def.id]
		if v == "" || v == cur || (cur != "" && !b.opt.Overwrite) {
			continue
		}
		p.custom[def.id] = v
		b.customRows = append(b.customRows, []any{b.nationID, p.id, def.id, v})
		changed = append(changed, "custom."+def.name)
		other = true
	}
	for _, kind := range []string{"mailing", "work"} {
		a, ok := r.addrs[kind]
		if !ok {
			continue
		}
		cur, has := p.addrs[kind]
		if has && (cur == a || !b.opt.Overwrite) {
			continue
		}
		p.addrs[kind] = a
		b.addrRows = append(b.addrRows, []any{b.nationID, p.id, kind, a[0], a[1], a[2], a[3], a[4], a[5], nullFloat(a[6]), nullFloat(a[7])})
		changed = append(changed, kind+"_address")
		other = true
	}
	if k := nameKey(&p.v); k != p.v[cNameKey] {
		p.v[cNameKey] = k
	}

	if r.note != "" && !p.notes[r.note] {
		p.notes[r.note] = true
		b.activities = append(b.activities, activityRow{p.id, "note", src, "", b.key.SealNote(r.note), at})
	}
	rowChanged := len(changed) > 0 && !(other && onlySide(changed))
	if !p.isNew && rowChanged {
		p.dirty = true
	}
	details := tagDetails(b.key, tagged, sealTagged)
	switch {
	case created:
		typ := "created"
		if src.Kind == "import" {
			typ = "imported"
		}
		b.activities = append(b.activities, activityRow{p.id, typ, src, strings.Join(changed, ","), details, at})
		res.Outcome = Created
	case len(changed) > 0 || other:
		b.activities = append(b.activities, activityRow{p.id, "updated", src, strings.Join(changed, ","), details, at})
		res.Outcome = Updated
	case len(tagged) > 0:
		b.activities = append(b.activities, activityRow{p.id, "tagged", src, "", details, at})
		res.Outcome = Updated
	default:
		res.Outcome = Unchanged
	}
	if res.Outcome != Unchanged && at > p.activity {
		p.activity = at
		if !p.isNew {
			p.dirty = true
		}
	}
	return res, nil
}

// onlySide reports whether every changed field lives outside the people row.
func onlySide(changed []string) bool {
	for _, c := range changed {
		if c != "emails" && !strings.HasPrefix(c, "custom.") && c != "mailing_address" && c != "work_address" {
			return false
		}
	}
	return true
}

func (b *batch) proposeDup(x, y int64, reason string) {
	if x == y {
		return
	}
	if x > y {
		x, y = y, x
	}
	b.dupPairs = append(b.dupPairs, [3]any{x, y, reason})
}

// wording stores a consent wording once per batch and returns its hash.
func (b *batch) wording(text string) string {
	if text == "" {
		return ""
	}
	h := WordingHash(text)
	b.wordings[h] = text
	return h
}

// WordingHash is the SHA-256 (hex) that references a consent wording.
func WordingHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// proposeNameDuplicates proposes, for each person the batch created, the
// existing person (or earlier new one) with the same first name, last name
// and postcode.
func (b *batch) proposeNameDuplicates(ctx context.Context, results []RowResult) error {
	byKey := map[string]int64{}
	var keys []string
	for _, p := range b.created {
		if k := p.v[cNameKey]; k != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	err := eachIn(ctx, b.tx, `SELECT id, name_key FROM people WHERE nation_id = ? AND merged_into = 0 AND name_key <> '' AND name_key IN IN_LIST`,
		[]any{b.nationID}, dedupe(keys), func(rows *sql.Rows) error {
			var id int64
			var k string
			if err := rows.Scan(&id, &k); err != nil {
				return err
			}
			// The lowest id per key, chosen here: ORDER BY id would make
			// SQLite walk the whole nation in id order instead of using
			// the name_key index.
			if cur, ok := byKey[k]; !ok || id < cur {
				byKey[k] = id
			}
			return nil
		})
	if err != nil {
		return wrap("find name duplicates", err)
	}
	dupOf := map[int64]int64{}
	for _, p := range b.created {
		k := p.v[cNameKey]
		if k == "" {
			continue
		}
		if other, ok := byKey[k]; ok {
			b.proposeDup(other, p.id, "same_name_postcode")
			dupOf[p.id] = other
			continue
		}
		byKey[k] = p.id
	}
	for i := range results {
		if results[i].Outcome == Created && results[i].DuplicateOf == 0 {
			results[i].DuplicateOf = dupOf[results[i].PersonID]
		}
	}
	return nil
}

// write flushes everything the batch decided, with multi-row INSERTs.
func (b *batch) write(ctx context.Context) error {
	tx, n := b.tx, b.nationID
	tm := b.opt.Timings
	t := tm.start()
	if len(b.created) > 0 {
		// Only the columns some new person of the batch has a value for:
		// the others take their defaults, which are what an empty value
		// would store (a file fills a third of them; binding the rest
		// costs a tenth of the insert).
		used := make([]bool, numCols)
		for _, p := range b.created {
			for c := range personCols {
				used[c] = used[c] || p.v[c] != "" || personCols[c].name == "support_level_enc"
			}
		}
		cols := make([]string, 0, numCols+7)
		cols = append(cols, "nation_id", "id")
		for c, col := range personCols {
			if used[c] {
				cols = append(cols, col.name)
			}
		}
		cols = append(cols, "created_at", "updated_at", "last_activity_at")
		rows := make([][]any, len(b.created))
		for i, p := range b.created {
			row := make([]any, 0, len(cols))
			row = append(row, n, p.id)
			for c := range personCols {
				if used[c] {
					row = append(row, sqlArg(c, p.v[c]))
				}
			}
			row = append(row, b.now, b.now, p.activity)
			rows[i] = row
		}
		if err := insertRows(ctx, tx, "people", cols, rows, ""); err != nil {
			return wrap("create people", err)
		}
	}
	t = tm.lap("insert people (and search index)", t)
	if err := b.updateDirty(ctx); err != nil {
		return err
	}
	t = tm.lap("update people", t)
	if err := insertRows(ctx, tx, "person_emails", []string{"nation_id", "email_norm", "person_id", "email", "is_primary", "created_at"}, b.emailRows, ""); err != nil {
		return wrap("add e-mails", err)
	}
	t = tm.lap("insert person_emails", t)
	if err := insertRows(ctx, tx, "taggings", []string{"nation_id", "person_id", "tag_id", "created_at"}, b.taggingRows, "ON CONFLICT DO NOTHING"); err != nil {
		return wrap("tag", err)
	}
	t = tm.lap("insert taggings", t)
	if len(b.activities) > 0 {
		first, err := b.reserve(ctx, "activities", len(b.activities))
		if err != nil {
			return wrap("activities", err)
		}
		rows := make([][]any, len(b.activities))
		for i, a := range b.activities {
			rows[i] = []any{n, first + int64(i), a.personID, a.typ, a.src.Kind, a.src.Ref, a.src.Line, a.src.UserID, a.fields, a.details, a.at}
		}
		if err := insertRows(ctx, tx, "activities", activityCols, rows, ""); err != nil {
			return wrap("timeline", err)
		}
	}
	t = tm.lap("insert activities", t)
	if len(b.wordings) > 0 {
		rows := make([][]any, 0, len(b.wordings))
		for h, w := range b.wordings {
			rows = append(rows, []any{n, h, w, b.now})
		}
		if err := insertRows(ctx, tx, "consent_wordings", []string{"nation_id", "hash", "wording", "created_at"}, rows, "ON CONFLICT DO NOTHING"); err != nil {
			return wrap("consent wordings", err)
		}
	}
	if len(b.consents) > 0 {
		first, err := b.reserve(ctx, "consents", len(b.consents))
		if err != nil {
			return wrap("consents", err)
		}
		rows := make([][]any, len(b.consents))
		for i, c := range b.consents {
			rows[i] = []any{n, first + int64(i), c.personID, c.channel, c.status, c.basis, c.wordingHash, c.src.Kind, c.src.Ref, c.src.Line, c.src.UserID, c.src.IP, c.at}
		}
		if err := insertRows(ctx, tx, "consents", consentCols, rows, ""); err != nil {
			return wrap("consent ledger", err)
		}
	}
	t = tm.lap("insert consents (and wordings)", t)
	if err := insertRows(ctx, tx, "custom_values", []string{"nation_id", "person_id", "field_id", "value"}, b.customRows,
		"ON CONFLICT (nation_id, person_id, field_id) DO UPDATE SET value = excluded.value"); err != nil {
		return wrap("custom values", err)
	}
	t = tm.lap("insert custom_values", t)
	if err := insertRows(ctx, tx, "person_addresses", addressCols, b.addrRows,
		`ON CONFLICT (nation_id, person_id, kind) DO UPDATE SET line1 = excluded.line1, line2 = excluded.line2,
		 city = excluded.city, postcode = excluded.postcode, region = excluded.region, country = excluded.country,
		 lat = excluded.lat, lng = excluded.lng`); err != nil {
		return wrap("addresses", err)
	}
	t = tm.lap("insert person_addresses", t)
	defer tm.lap("insert duplicates", t)
	return wrap("propose duplicates", insertDuplicates(ctx, tx, n, b.dupPairs, b.now))
}

var (
	activityCols = []string{"nation_id", "id", "person_id", "type", "source_kind", "source_ref", "source_line", "source_user", "fields", "details", "at"}
	consentCols  = []string{"nation_id", "id", "person_id", "channel", "status", "basis", "wording_hash", "source_kind", "source_ref", "source_line", "source_user", "ip", "at"}
	addressCols  = []string{"nation_id", "person_id", "kind", "line1", "line2", "city", "postcode", "region", "country", "lat", "lng"}
)

// updateDirty rewrites the people rows of existing people the batch changed.
func (b *batch) updateDirty(ctx context.Context) error {
	var dirty []*pstate
	for _, p := range b.byID {
		if p.dirty {
			dirty = append(dirty, p)
		}
	}
	if len(dirty) == 0 {
		return nil
	}
	sort.Slice(dirty, func(i, j int) bool { return dirty[i].id < dirty[j].id })
	if b.tx.Engine() == store.Postgres {
		return b.updateDirtyPostgres(ctx, dirty)
	}
	sets := make([]string, 0, numCols)
	for _, c := range personCols {
		sets = append(sets, c.name+" = ?")
	}
	stmt, err := b.tx.Prepare(ctx, `UPDATE people SET `+strings.Join(sets, ", ")+`,
		updated_at = ?, last_activity_at = CASE WHEN last_activity_at > ? THEN last_activity_at ELSE ? END
		WHERE nation_id = ? AND id = ?`)
	if err != nil {
		return wrap("update people", err)
	}
	defer stmt.Close()
	for _, p := range dirty {
		args := make([]any, 0, numCols+5)
		for c := range personCols {
			args = append(args, sqlArg(c, p.v[c]))
		}
		args = append(args, b.now, p.activity, p.activity, b.nationID, p.id)
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return wrap("update person", err)
		}
	}
	return nil
}

// updateDirtyPostgres rewrites the rows in ONE statement, UPDATE … FROM
// unnest() of a typed array per column: a round trip per person would cost
// more than everything else the batch does on PostgreSQL.
func (b *batch) updateDirtyPostgres(ctx context.Context, dirty []*pstate) error {
	ids := make([]int64, len(dirty))
	acts := make([]int64, len(dirty))
	for i, p := range dirty {
		ids[i], acts[i] = p.id, p.activity
	}
	args := []any{b.now, ids, acts}
	sets := make([]string, 0, numCols)
	exprs := []string{"?::bigint[]", "?::bigint[]"}
	names := []string{"id", "act"}
	for c, col := range personCols {
		var arg any
		cast := "text[]"
		switch col.kind {
		case kText:
			a := make([]string, len(dirty))
			for i, p := range dirty {
				a[i] = p.v[c]
			}
			arg = a
		case kInt, kNullInt:
			a := make([]*int64, len(dirty))
			for i, p := range dirty {
				if v, ok := sqlArg(c, p.v[c]).(int64); ok {
					a[i] = &v
				} else if v, ok := sqlArg(c, p.v[c]).(int); ok {
					n := int64(v)
					a[i] = &n
				}
			}
			arg, cast = a, "bigint[]"
		case kNullFloat:
			a := make([]*float64, len(dirty))
			for i, p := range dirty {
				if v, ok := sqlArg(c, p.v[c]).(float64); ok {
					a[i] = &v
				}
			}
			arg, cast = a, "float8[]"
		}
		args = append(args, arg)
		exprs = append(exprs, "?::"+cast)
		names = append(names, "c"+strconv.Itoa(c))
		sets = append(sets, col.name+" = u.c"+strconv.Itoa(c))
	}
	args = append(args, b.nationID)
	q := `UPDATE people AS p SET ` + strings.Join(sets, ", ") + `, updated_at = ?,
		last_activity_at = CASE WHEN p.last_activity_at > u.act THEN p.last_activity_at ELSE u.act END
		FROM unnest(` + strings.Join(exprs, ", ") + `) AS u(` + strings.Join(names, ", ") + `)
		WHERE p.nation_id = ? AND p.id = u.id`
	if _, err := b.tx.Exec(ctx, q, args...); err != nil {
		return wrap("update people", err)
	}
	return nil
}

func insertDuplicates(ctx context.Context, tx *store.Tx, nationID int64, pairs [][3]any, now int64) error {
	if len(pairs) == 0 {
		return nil
	}
	// One row per pair (the first reason wins), so that one multi-row
	// INSERT never carries the same pair twice.
	seen := make(map[[2]any]bool, len(pairs))
	uniq := pairs[:0:0]
	for _, pr := range pairs {
		k := [2]any{pr[0], pr[1]}
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, pr)
		}
	}
	first, err := reserveIDs(ctx, tx, nationID, "duplicates", len(uniq))
	if err != nil {
		return err
	}
	rows := make([][]any, len(uniq))
	for i, pr := range uniq {
		rows[i] = []any{nationID, first + int64(i), pr[0], pr[1], pr[2], "open", now}
	}
	return insertRows(ctx, tx, "duplicates", []string{"nation_id", "id", "person_a", "person_b", "reason", "status", "created_at"}, rows, "ON CONFLICT DO NOTHING")
}

func nullFloat(s string) any {
	if s == "" {
		return nil
	}
	return sqlArg(cHomeLat, s)
}

type set map[string]struct{}

func (s set) add(v string) {
	if v != "" {
		s[v] = struct{}{}
	}
}

func (s set) list() []string {
	out := make([]string, 0, len(s))
	for v := range s {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func dedupe(xs []string) []string {
	seen := make(map[string]bool, len(xs))
	out := xs[:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
