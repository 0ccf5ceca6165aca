package importer

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// DefaultBatchSize is the number of records written per transaction: large
// enough to amortise the set queries of matching, small enough that a kill
// loses little and memory stays flat.
const DefaultBatchSize = 5000

// RunOptions tune an import.
type RunOptions struct {
	Options
	Overwrite bool // replace conflicting non-empty values (--overwrite)
	DryRun    bool // compute outcomes, write nothing to the database
	BatchSize int  // records per transaction; DefaultBatchSize when 0
	// RejectsPath is where the rejects CSV goes when there are rejects;
	// Run defaults it to FILE.rejects.csv next to the input.
	RejectsPath string
	ActorID     int64 // staff member running the import, 0 for the command line
	// ImportID is the control panel's import this run belongs to (0 for
	// the command line), recorded as the audit entry's object.
	ImportID int64
	// Timings, when set, adds up where the import's time goes (see
	// people.Timings); `muster bench import` prints it.
	Timings *people.Timings
}

// Summary is the outcome of an import. Every row read lands in exactly one
// of Created, Updated, Unchanged, Merged and Rejected.
type Summary struct {
	Rows      int `json:"rows"`
	Created   int `json:"created"`   // new people
	Updated   int `json:"updated"`   // matched someone already there and changed them
	Unchanged int `json:"unchanged"` // matched someone already there, nothing new
	// Merged counts rows folded into a person an earlier row of the same
	// import created (duplicates within the file).
	Merged   int `json:"merged"`
	Rejected int `json:"rejected"` // refused rows, listed in the rejects file
	// FieldErrors counts fields dropped from rows that went in otherwise
	// (malformed e-mail, date, …); they are listed in the rejects file too.
	FieldErrors int     `json:"field_errors"`
	Duplicates  int     `json:"duplicates_proposed"` // same name and postcode as someone: queued for review
	Seconds     float64 `json:"seconds"`
	// HeldBack counts the times a record was held back for the next batch
	// because it shared a key with a batch being written at the same time
	// (PostgreSQL only); a diagnostic, not part of the printed summary.
	HeldBack int `json:"-"`

	DryRun      bool     `json:"dry_run,omitempty"`
	Format      Format   `json:"format"`
	Encoding    string   `json:"encoding"`
	Delimiter   string   `json:"delimiter"`
	Ignored     []string `json:"ignored_columns"`
	RejectsFile string   `json:"rejects_file,omitempty"`
}

// Progress is reported after each batch.
type Progress struct {
	Rows, Created, Updated, Unchanged, Merged, Rejected int
	Elapsed                                             time.Duration
}

// Run imports the people file at path into the nation. The file is checked
// (Open) before anything is written; it is then read in batches of
// opts.BatchSize records, each written by people.UpsertBatch in one
// transaction. Rejected rows and dropped fields go to a rejects CSV (the
// file's own columns plus line and reason) written next to the input.
//
// A failure or a kill mid-file leaves every committed batch whole; running
// the same import again completes it, since matching makes the rows already
// in come back Unchanged. The Summary returned with an error counts what
// was committed.
func Run(ctx context.Context, st *people.Store, nationID int64, path string, opts RunOptions, progress func(Progress)) (Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Summary{}, errs.Invalid("cannot open %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	if opts.RejectsPath == "" {
		opts.RejectsPath = strings.TrimSuffix(path, filepath.Ext(path)) + ".rejects.csv"
	}
	return RunReader(ctx, st, nationID, f, filepath.Base(path), opts, progress)
}

// RunReader is Run over an open stream; name is the file name recorded as
// the source of every row. Without opts.RejectsPath rejects are only counted.
func RunReader(ctx context.Context, st *people.Store, nationID int64, r io.Reader, name string, opts RunOptions, progress func(Progress)) (Summary, error) {
	start := time.Now()
	rd, err := Open(r, opts.Options)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{DryRun: opts.DryRun, Format: rd.Format(), Encoding: rd.Encoding(),
		Delimiter: string(rd.Delimiter()), Ignored: rd.Unknown()}
	if sum.Ignored == nil {
		sum.Ignored = []string{}
	}
	size := opts.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	rej := &rejects{path: opts.RejectsPath, header: rd.Header()}
	defer rej.close()

	// created remembers the people this import created, so that a later
	// duplicate row (in another batch) counts as merged, not updated.
	created := map[int64]struct{}{}
	upsert := people.UpsertOptions{Overwrite: opts.Overwrite, DryRun: opts.DryRun,
		Source: people.Source{Kind: "import", Ref: name, UserID: opts.ActorID, At: start}, Timings: opts.Timings}
	if testHookInBatch != nil {
		upsert.Then = func(context.Context, *store.Tx, []people.RowResult) ([]int64, error) {
			testHookInBatch()
			return nil, nil
		}
	}

	// A pipeline of two: a goroutine reads and normalises the next batch
	// (on every core) while this one writes the current batch, whose
	// database work is single-threaded. The channel holds one batch, so
	// memory stays at about three batches whatever the file size.
	rctx, cancel := context.WithCancel(ctx)
	batches := make(chan readBatch, 1)
	go readBatches(rctx, st, nationID, rd, name, opts.ActorID, start, size, upsert, batches)
	defer func() {
		cancel()
		for range batches { // let the reader finish before the caller closes r
		}
	}()

	// PostgreSQL's planner statistics are renewed each time the people
	// this import created have doubled since the last renewal (from 10,000
	// on), and at the end: see people.Store.RefreshStatistics.
	const statsFrom = 10000
	statsAt := 0
	refreshStats := func(final bool) error {
		grown := sum.Created - statsAt
		if opts.DryRun || grown < statsFrom || (!final && grown < statsAt) {
			return nil
		}
		statsAt = sum.Created
		began := time.Now()
		if err := st.RefreshStatistics(ctx); err != nil {
			return fmt.Errorf("importer: %w", err)
		}
		opts.Timings.Add("refresh planner statistics", time.Since(began))
		return nil
	}

	filterDecided := false
	// account counts a written batch's outcomes, in the order batches were
	// started, and lists its rejects.
	account := func(b readBatch, res []people.RowResult) error {
		for i, rr := range res {
			switch {
			case rr.Outcome == people.Rejected:
				sum.Rejected++
				if err := rej.add(b.raws[i], b.srcs[i].Line, "row rejected: "+reason(rr.Err)); err != nil {
					return err
				}
			case rr.Outcome == people.Created:
				sum.Created++
				if rr.PersonID != 0 {
					created[rr.PersonID] = struct{}{}
				}
			case strings.HasPrefix(rr.MatchedBy, "batch"):
				sum.Merged++
			default:
				if _, ok := created[rr.PersonID]; ok {
					sum.Merged++
				} else if rr.Outcome == people.Updated {
					sum.Updated++
				} else {
					sum.Unchanged++
				}
			}
			if rr.DuplicateOf != 0 {
				sum.Duplicates++
			}
			for _, fe := range rr.FieldErrors {
				sum.FieldErrors++
				if err := rej.add(b.raws[i], b.srcs[i].Line, "field dropped, rest of row imported: "+reason(fe)); err != nil {
					return err
				}
			}
		}
		// After a first full batch of mostly new people (a file of more
		// than one batch, largely new to the nation), one scan of the
		// nation's keys saves each further batch the look-ups of keys no
		// one has (people.KeyFilter). A small file, or one whose people
		// are mostly known (a re-import), is cheaper without.
		if !filterDecided && len(b.recs) >= size {
			filterDecided = true
			newPeople := 0
			for _, rr := range res {
				if rr.Outcome == people.Created {
					newPeople++
				}
			}
			if newPeople*2 > len(res) {
				began := time.Now()
				keys, err := st.NewKeyFilter(ctx, nationID)
				if err != nil {
					return fmt.Errorf("importer: %w", err)
				}
				upsert.Keys = keys
				opts.Timings.Add("build key filter", time.Since(began))
			}
		}
		if err := refreshStats(false); err != nil {
			return err
		}
		if progress != nil {
			progress(Progress{Rows: sum.Rows, Created: sum.Created, Updated: sum.Updated, Unchanged: sum.Unchanged,
				Merged: sum.Merged, Rejected: sum.Rejected, Elapsed: time.Since(start)})
		}
		return nil
	}

	finish := func(err error) (Summary, error) {
		if cerr := rej.close(); err == nil {
			err = cerr
		}
		sum.RejectsFile = rej.written
		sum.Seconds = time.Since(start).Seconds()
		return sum, err
	}
	// Batches are written one after the other, except on PostgreSQL once
	// the first batch is in (and its key filter decided): there a batch is
	// started while the one before it is still being written, which puts
	// the server's second core to work (people.Store.ConcurrentBatches).
	// Two batches written at once must not meet in one person, since
	// neither sees what the other creates: a record that shares a key
	// (people.Prepared.MatchKeys) with the batch being written, or with a
	// record held back before it, is held back for the next batch. Records
	// sharing a key are therefore still written in file order, and each
	// sees what the earlier ones wrote.
	concurrent := st.ConcurrentBatches() > 1 && !opts.DryRun
	write := func(b readBatch) ([]people.RowResult, error) {
		res, err := st.UpsertPrepared(ctx, nationID, b.prep, b.srcs, upsert)
		if err != nil {
			return nil, fmt.Errorf("importer: write rows %d–%d: %w", b.srcs[0].Line, b.srcs[len(b.srcs)-1].Line, err)
		}
		return res, nil
	}
	var running *flight // the batch being written in the background
	var held readBatch  // records held back for the next batch
	wait := func() error {
		if running == nil {
			return nil
		}
		f := running
		running = nil
		<-f.done
		if f.err != nil {
			return f.err
		}
		return account(f.b, f.res)
	}
	for {
		// Every reject before the first record still to be written can go
		// to the file: no earlier line will come.
		outstanding := 0
		for _, rb := range []readBatch{held, running.batch()} {
			if len(rb.srcs) > 0 && (outstanding == 0 || rb.srcs[0].Line < outstanding) {
				outstanding = rb.srcs[0].Line
			}
		}
		if err := rej.flush(outstanding); err != nil {
			return finish(errors.Join(err, wait()))
		}
		waiting := time.Now()
		b, ok := <-batches
		if !ok {
			break
		}
		opts.Timings.Add("wait for the reader", time.Since(waiting))
		if err := ctx.Err(); err != nil {
			return finish(errors.Join(err, wait()))
		}
		// Rows the reader refused come first: they precede the batch's
		// records in the file (the batch ends with a record).
		for _, re := range b.refused {
			sum.Rows++
			sum.Rejected++
			if err := rej.add(re.raw, re.line, "row rejected: "+re.reason); err != nil {
				return finish(errors.Join(err, wait()))
			}
		}
		if b.err != nil {
			return finish(errors.Join(b.err, wait()))
		}
		sum.Rows += len(b.recs)
		next := held.join(b)
		held = readBatch{}
		if len(next.recs) == 0 {
			continue
		}
		if !concurrent || !filterDecided {
			if err := wait(); err != nil {
				return finish(err)
			}
			res, err := write(next)
			if err == nil {
				err = account(next, res)
			}
			if err != nil {
				return finish(err)
			}
			continue
		}
		if running != nil {
			next, held = next.holdBack(running.keys)
			sum.HeldBack += len(held.recs)
		}
		var started *flight
		if len(next.recs) > 0 {
			started = startFlight(next, write)
		}
		err := wait()
		running = started
		if err != nil {
			return finish(errors.Join(err, wait()))
		}
	}
	if err := errors.Join(ctx.Err(), wait()); err != nil {
		return finish(err)
	}
	if len(held.recs) > 0 {
		res, err := write(held)
		if err == nil {
			err = account(held, res)
		}
		if err != nil {
			return finish(err)
		}
	}
	if err := refreshStats(true); err != nil {
		return finish(err)
	}
	if !opts.DryRun {
		if err := st.Audit(ctx, nationID, opts.ActorID, "people.import", "import", opts.ImportID); err != nil {
			return finish(err)
		}
	}
	return finish(nil)
}

// testHookInBatch, when set by a test, runs inside every batch's
// transaction before it commits (to hold batches open and make two of them
// overlap).
var testHookInBatch func()

// readBatch is one batch of a file as the reader goroutine hands it over:
// the records with their sources and raw rows, normalised (prep), the rows
// refused on the way, and the error that ended the stream, if any (the
// batch's records are then not written, as the stream is broken).
type readBatch struct {
	recs    []people.Record
	srcs    []people.Source
	raws    [][]string
	prep    *people.Prepared
	refused []refusedRow
	err     error
}

// flight is a batch being written by a goroutine of its own.
type flight struct {
	b    readBatch
	keys map[string]struct{} // every match key of its records
	res  []people.RowResult
	err  error
	done chan struct{}
}

// batch is the batch the flight writes; none for no flight.
func (f *flight) batch() readBatch {
	if f == nil {
		return readBatch{}
	}
	return f.b
}

func startFlight(b readBatch, write func(readBatch) ([]people.RowResult, error)) *flight {
	f := &flight{b: b, keys: make(map[string]struct{}, 3*len(b.recs)), done: make(chan struct{})}
	for i := range b.recs {
		b.prep.MatchKeys(i, func(k string) { f.keys[k] = struct{}{} })
	}
	go func() {
		defer close(f.done)
		f.res, f.err = write(b)
	}()
	return f
}

// join returns the records of b after those of a (records held back from
// an earlier batch come first: they are earlier in the file).
func (a readBatch) join(b readBatch) readBatch {
	if len(a.recs) == 0 {
		return b
	}
	return readBatch{
		recs: append(slices.Clip(a.recs), b.recs...),
		srcs: append(slices.Clip(a.srcs), b.srcs...),
		raws: append(slices.Clip(a.raws), b.raws...),
		prep: a.prep.Append(b.prep),
	}
}

// holdBack splits b into the records that share no match key with busy,
// nor with a record held back before them, and the others.
func (b readBatch) holdBack(busy map[string]struct{}) (kept, held readBatch) {
	heldKeys := map[string]struct{}{}
	var keep, hold []int
	for i := range b.recs {
		clash := false
		var keys []string
		b.prep.MatchKeys(i, func(k string) {
			keys = append(keys, k)
			_, inBusy := busy[k]
			_, inHeld := heldKeys[k]
			clash = clash || inBusy || inHeld
		})
		if !clash {
			keep = append(keep, i)
			continue
		}
		hold = append(hold, i)
		for _, k := range keys {
			heldKeys[k] = struct{}{}
		}
	}
	if len(hold) == 0 {
		return b, readBatch{}
	}
	return b.subset(keep), b.subset(hold)
}

func (b readBatch) subset(idx []int) readBatch {
	out := readBatch{recs: make([]people.Record, len(idx)), srcs: make([]people.Source, len(idx)),
		raws: make([][]string, len(idx)), prep: b.prep.Select(idx)}
	for j, i := range idx {
		out.recs[j], out.srcs[j], out.raws[j] = b.recs[i], b.srcs[i], b.raws[i]
	}
	return out
}

type refusedRow struct {
	raw    []string
	line   int
	reason string
}

// readBatches reads rd into batches of size records, normalises each with
// PrepareBatch, and sends them on out, which it closes at the end of the
// file, after an error, or when ctx is cancelled.
func readBatches(ctx context.Context, st *people.Store, nationID int64, rd *Reader, name string, actor int64,
	start time.Time, size int, opt people.UpsertOptions, out chan<- readBatch) {
	defer close(out)
	b := readBatch{}
	send := func() bool {
		if b.err == nil && len(b.recs) > 0 {
			b.prep, b.err = st.PrepareBatch(ctx, nationID, b.recs, opt)
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return false
		}
		b = readBatch{recs: make([]people.Record, 0, size), srcs: make([]people.Source, 0, size), raws: make([][]string, 0, size)}
		return true
	}
	for ctx.Err() == nil {
		rec, line, err := rd.Next()
		if errors.Is(err, io.EOF) {
			send()
			return
		}
		var re *RowError
		if errors.As(err, &re) {
			b.refused = append(b.refused, refusedRow{slices.Clone(rd.Raw()), re.Line, re.Reason})
			if len(b.refused) >= size && !send() {
				return
			}
			continue
		}
		if err != nil {
			b.err = err
			send()
			return
		}
		b.recs = append(b.recs, rec)
		b.srcs = append(b.srcs, people.Source{Kind: "import", Ref: name, Line: line, UserID: actor, At: start})
		b.raws = append(b.raws, slices.Clone(rd.Raw()))
		if len(b.recs) >= size && !send() {
			return
		}
	}
}

// reason is the user-safe text of a row or field error.
func reason(err error) string {
	if err == nil {
		return "refused"
	}
	msg := errs.Message(err)
	if f := errs.FieldOf(err); f != "" && !strings.Contains(msg, f) {
		msg = f + ": " + msg
	}
	return msg
}

// rejects writes the rejects CSV lazily (no file unless something is
// rejected; an existing rejects file from an earlier run is replaced) and in
// file order: rejects are queued until flush is told that no earlier line
// can come any more, since with concurrent batches a record held back for a
// later batch is accounted after records that follow it in the file.
type rejects struct {
	path    string
	header  []string
	f       *os.File
	w       *csv.Writer
	written string
	pending []rejectRow
}

type rejectRow struct {
	raw  []string
	line int
	why  string
}

func (r *rejects) add(raw []string, line int, why string) error {
	if r.path == "" {
		return nil
	}
	r.pending = append(r.pending, rejectRow{raw, line, why})
	return nil
}

// flush writes, in line order, the queued rejects of lines before line
// (all of them when line is 0).
func (r *rejects) flush(line int) error {
	if len(r.pending) == 0 {
		return nil
	}
	slices.SortStableFunc(r.pending, func(a, b rejectRow) int { return a.line - b.line })
	n := len(r.pending)
	if line > 0 {
		n, _ = slices.BinarySearchFunc(r.pending, line, func(x rejectRow, l int) int { return x.line - l })
	}
	for _, x := range r.pending[:n] {
		if err := r.write(x); err != nil {
			return err
		}
	}
	r.pending = slices.Delete(r.pending, 0, n)
	return nil
}

func (r *rejects) write(x rejectRow) error {
	if r.w == nil {
		f, err := os.OpenFile(r.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("importer: create rejects file: %w", err)
		}
		r.f, r.w, r.written = f, csv.NewWriter(f), r.path
		if err := r.w.Write(append(slices.Clone(r.header), "line", "reason")); err != nil {
			return fmt.Errorf("importer: write rejects file: %w", err)
		}
	}
	row := make([]string, len(r.header), len(r.header)+2)
	copy(row, x.raw)
	if err := r.w.Write(append(row, strconv.Itoa(x.line), x.why)); err != nil {
		return fmt.Errorf("importer: write rejects file: %w", err)
	}
	return nil
}

func (r *rejects) close() error {
	if err := r.flush(0); err != nil {
		if r.f != nil {
			r.f.Close()
			r.f = nil
		}
		return err
	}
	if r.f == nil {
		return nil
	}
	r.w.Flush()
	err := r.w.Error()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	r.f = nil
	if err != nil {
		return fmt.Errorf("importer: write rejects file: %w", err)
	}
	return nil
}
