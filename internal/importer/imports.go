package importer

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// JobKind is the background job that runs a control-panel import, dry run
// or real (ImportJobArgs say which).
const JobKind = "people.import"

// Status is where a control-panel import is.
type Status string

// The statuses of an import, in the order they come.
const (
	StatusUploaded   Status = "uploaded"   // file stored and accepted; mapping not chosen yet
	StatusPreviewing Status = "previewing" // dry run in the queue or running
	StatusPreviewed  Status = "previewed"  // dry run done: the preview is ready
	StatusRunning    Status = "running"    // the import in the queue or running
	StatusDone       Status = "done"
	StatusFailed     Status = "failed"
)

// Busy reports whether a job of the import is queued or running.
func (s Status) Busy() bool { return s == StatusPreviewing || s == StatusRunning }

// ImportOptions are what staff choose on the mapping screen.
type ImportOptions struct {
	Format    Format            `json:"format,omitempty"`
	Map       map[string]string `json:"map,omitempty"` // column → field or Ignore
	Tags      []string          `json:"tags,omitempty"`
	Overwrite bool              `json:"overwrite,omitempty"`
}

// Import is one import started from the control panel.
type Import struct {
	NationID, ID int64
	FileName     string
	Size         int64
	Status       Status
	Options      ImportOptions
	Preview      *Summary // the dry run's outcome, once previewed
	Summary      *Summary // the run's outcome, once done (or what was committed when it failed)
	TotalRows    int64
	JobID        int64
	Error        string
	CreatedBy    int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
}

// Imports keeps control-panel imports: their rows, and their files under
// dir (the data directory's imports/), one directory per nation:
// <nation id>/<id>.csv, with <id>.preview-rejects.csv and <id>.rejects.csv
// beside it. Files are written 0600 in 0700 directories and are kept after
// the import, so that its rejects can be downloaded and the import rerun;
// erasing a person (the privacy feature) must purge them from these files.
//
// Several Muster nodes on one PostgreSQL must share dir (a network volume):
// the node that takes the upload and the one whose worker runs the job may
// differ.
type Imports struct {
	db  *store.DB
	dir string
}

// NewImports returns the imports kept in db with their files under dir.
func NewImports(db *store.DB, dir string) *Imports { return &Imports{db: db, dir: dir} }

// Path is where the import's file is.
func (s *Imports) Path(imp *Import) string {
	return filepath.Join(s.dir, strconv.FormatInt(imp.NationID, 10), strconv.FormatInt(imp.ID, 10)+".csv")
}

// RejectsPath is where the rejects file of the dry run (dry) or of the run is.
func (s *Imports) RejectsPath(imp *Import, dry bool) string {
	name := ".rejects.csv"
	if dry {
		name = ".preview-rejects.csv"
	}
	return filepath.Join(s.dir, strconv.FormatInt(imp.NationID, 10), strconv.FormatInt(imp.ID, 10)+name)
}

// Create stores an uploaded file as a new import of the nation. The file is
// copied from r into place and checked (Open: encoding, delimiter, a usable
// header) before the import row exists; a refused or unreadable upload
// leaves neither file nor row behind. An error reading r (such as
// *http.MaxBytesError from a capped body) is returned wrapped.
func (s *Imports) Create(ctx context.Context, nationID, actor int64, fileName string, r io.Reader) (*Import, error) {
	if s.dir == "" {
		return nil, errs.Invalid("imports need a data directory (--data) to keep the uploaded files")
	}
	id, err := s.db.NextID(ctx, nationID, "imports")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	imp := &Import{NationID: nationID, ID: id, FileName: clip(filepath.Base(fileName)), Status: StatusUploaded,
		CreatedBy: actor, CreatedAt: now, UpdatedAt: now}
	path := s.Path(imp)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("importer: create imports directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("importer: store upload: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			_ = os.Remove(path)
		}
	}()
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("importer: store upload: %w", err)
	}
	imp.Size = n
	if _, err := s.Inspect(imp, 0); err != nil {
		return nil, err
	}
	_, err = s.db.Exec(ctx, `INSERT INTO imports (nation_id, id, file_name, size, status, created_by, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, nationID, id, imp.FileName, n, string(imp.Status), actor, store.Millis(now), store.Millis(now))
	if err != nil {
		return nil, fmt.Errorf("importer: create import: %w", err)
	}
	keep = true
	return imp, nil
}

const importCols = `nation_id, id, file_name, size, status, options, preview, summary, total_rows, job_id, error,
	created_by, created_at, updated_at, started_at, finished_at`

func scanImport(sc interface{ Scan(...any) error }) (*Import, error) {
	var imp Import
	var status, options, preview, summary string
	var created, updated, started, finished int64
	err := sc.Scan(&imp.NationID, &imp.ID, &imp.FileName, &imp.Size, &status, &options, &preview, &summary,
		&imp.TotalRows, &imp.JobID, &imp.Error, &imp.CreatedBy, &created, &updated, &started, &finished)
	if err != nil {
		return nil, err
	}
	imp.Status = Status(status)
	imp.CreatedAt, imp.UpdatedAt = store.Time(created), store.Time(updated)
	if started > 0 {
		imp.StartedAt = store.Time(started)
	}
	if finished > 0 {
		imp.FinishedAt = store.Time(finished)
	}
	if options != "" {
		if err := json.Unmarshal([]byte(options), &imp.Options); err != nil {
			return nil, fmt.Errorf("importer: import options: %w", err)
		}
	}
	for _, p := range []struct {
		text string
		dst  **Summary
	}{{preview, &imp.Preview}, {summary, &imp.Summary}} {
		if p.text == "" {
			continue
		}
		var sum Summary
		if err := json.Unmarshal([]byte(p.text), &sum); err != nil {
			return nil, fmt.Errorf("importer: import summary: %w", err)
		}
		*p.dst = &sum
	}
	return &imp, nil
}

// Get returns an import of the nation.
func (s *Imports) Get(ctx context.Context, nationID, id int64) (*Import, error) {
	imp, err := scanImport(s.db.QueryRowWriter(ctx, `SELECT `+importCols+` FROM imports WHERE nation_id = ? AND id = ?`, nationID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFound("no such import")
	}
	if err != nil {
		return nil, fmt.Errorf("importer: get import: %w", err)
	}
	return imp, nil
}

// List returns the nation's latest imports, newest first.
func (s *Imports) List(ctx context.Context, nationID int64, limit int) ([]*Import, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := s.db.Query(ctx, `SELECT `+importCols+` FROM imports WHERE nation_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`, nationID, limit)
	if err != nil {
		return nil, fmt.Errorf("importer: list imports: %w", err)
	}
	defer rows.Close()
	var out []*Import
	for rows.Next() {
		imp, err := scanImport(rows)
		if err != nil {
			return nil, fmt.Errorf("importer: list imports: %w", err)
		}
		out = append(out, imp)
	}
	return out, rows.Err()
}

// Inspection is what the mapping screen shows of a file.
type Inspection struct {
	Format    Format
	Encoding  string
	Delimiter string
	Columns   []Column
	// Samples are the first rows, cell by cell in column order.
	Samples [][]string
}

// Column is one column of the file with the field it feeds ("" if none).
type Column struct {
	Header string
	Field  string
}

// Inspect reads the header and the first samples rows of the import's file
// under its current options: the format, and what each column feeds.
func (s *Imports) Inspect(imp *Import, samples int) (*Inspection, error) {
	f, err := os.Open(s.Path(imp))
	if err != nil {
		return nil, fmt.Errorf("importer: open upload: %w", err)
	}
	defer f.Close()
	rd, err := Open(f, Options{Format: imp.Options.Format, Map: imp.Options.Map})
	if err != nil {
		return nil, err
	}
	in := &Inspection{Format: rd.Format(), Encoding: rd.Encoding(), Delimiter: string(rd.Delimiter())}
	fields := map[string]string{}
	for _, m := range rd.Mapping() {
		fields[m[0]] = m[1]
	}
	for _, h := range rd.Header() {
		in.Columns = append(in.Columns, Column{Header: h, Field: fields[h]})
	}
	for len(in.Samples) < samples {
		_, _, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var re *RowError
		if err != nil && !errors.As(err, &re) {
			break // an unreadable rest shows in the dry run
		}
		row := make([]string, len(in.Columns))
		copy(row, rd.Raw())
		for i := range row {
			row[i] = clip(row[i])
		}
		in.Samples = append(in.Samples, row)
	}
	return in, nil
}

// ImportJobArgs are the arguments of a JobKind job.
type ImportJobArgs struct {
	ImportID int64 `json:"import_id"`
	DryRun   bool  `json:"dry_run"`
	Actor    int64 `json:"actor"`
}

// Start records the options of an import and queues its dry run (dry) or
// its run, in one transaction. The run needs a dry run done with the same
// options (the preview staff saw); neither starts while a job of the import
// is still queued or running (busy reports whether its job is live).
func (s *Imports) Start(ctx context.Context, q *jobs.Queue, imp *Import, opts ImportOptions, dry bool, actor int64, busy bool) (*jobs.Job, error) {
	if busy {
		return nil, errs.Conflict("this import is already running")
	}
	if imp.Status == StatusDone {
		return nil, errs.Conflict("this import is done; upload the file again to import it again")
	}
	if !dry && (imp.Preview == nil || (imp.Status != StatusPreviewed && imp.Status != StatusFailed)) {
		return nil, errs.Conflict("preview the import before running it")
	}
	raw, err := json.Marshal(opts)
	if err != nil {
		return nil, fmt.Errorf("importer: import options: %w", err)
	}
	status := StatusRunning
	if dry {
		status = StatusPreviewing
	}
	var j *jobs.Job
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		j, err = q.EnqueueTx(ctx, tx, jobs.Params{NationID: imp.NationID, Kind: JobKind, MaxAttempts: 3,
			Args: ImportJobArgs{ImportID: imp.ID, DryRun: dry, Actor: actor}})
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE imports SET options = ?, status = ?, job_id = ?, error = '', updated_at = ?
			WHERE nation_id = ? AND id = ? AND status = ?`,
			string(raw), string(status), j.ID, store.Millis(time.Now()), imp.NationID, imp.ID, string(imp.Status))
		if err != nil {
			return fmt.Errorf("importer: start import: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.Conflict("this import changed meanwhile; look again")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// RunJob is the handler of JobKind: it runs the dry run or the import
// through Run, reporting progress (rows done of the dry run's count) on the
// job, and records the summary. Running it again after a crash is safe:
// the rows already in come back unchanged.
func (s *Imports) RunJob(ctx context.Context, st *people.Store, j *jobs.Job) error {
	var a ImportJobArgs
	if err := j.Decode(&a); err != nil {
		return jobs.Permanent(fmt.Errorf("importer: import job args: %w", err))
	}
	imp, err := s.Get(ctx, j.NationID, a.ImportID)
	if err != nil {
		return jobs.Permanent(err)
	}
	if imp.JobID != j.ID {
		return nil // superseded by a later job of the same import
	}
	now := time.Now()
	if !a.DryRun {
		if _, err := s.db.Exec(ctx, `UPDATE imports SET started_at = ?, updated_at = ? WHERE nation_id = ? AND id = ?`,
			store.Millis(now), store.Millis(now), imp.NationID, imp.ID); err != nil {
			return fmt.Errorf("importer: start import: %w", err)
		}
	}
	total := imp.TotalRows
	opts := RunOptions{
		Options:     Options{Format: imp.Options.Format, Map: imp.Options.Map, Tags: imp.Options.Tags},
		Overwrite:   imp.Options.Overwrite,
		DryRun:      a.DryRun,
		RejectsPath: s.RejectsPath(imp, a.DryRun),
		ActorID:     a.Actor,
		ImportID:    imp.ID,
	}
	_ = os.Remove(opts.RejectsPath) // a rerun writes its own
	_ = j.Progress(ctx, 0, total, "")
	sum, err := Run(ctx, st, imp.NationID, s.Path(imp), opts, func(p Progress) {
		_ = j.Progress(ctx, int64(p.Rows), max(total, int64(p.Rows)), "")
	})
	if sum.RejectsFile != "" {
		sum.RejectsFile = filepath.Base(sum.RejectsFile) // never show server paths
	}
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down or cancelled: the queue decides
		}
		perm := errs.KindOf(err) == errs.KindInvalid
		if perm || j.Attempts >= j.MaxAttempts {
			msg := "the import stopped on an internal error; the rows written so far are kept, and starting the import again completes it"
			if perm {
				msg = errs.Message(err)
			}
			s.finish(ctx, imp, StatusFailed, a.DryRun, &sum, msg)
		}
		if perm {
			return jobs.Permanent(err)
		}
		return err
	}
	status := StatusDone
	if a.DryRun {
		status = StatusPreviewed
	}
	return s.finish(ctx, imp, status, a.DryRun, &sum, "")
}

// finish records the outcome of a job of the import.
func (s *Imports) finish(ctx context.Context, imp *Import, status Status, dry bool, sum *Summary, msg string) error {
	raw, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	now := store.Millis(time.Now())
	if dry {
		_, err = s.db.Exec(ctx, `UPDATE imports SET status = ?, preview = ?, total_rows = ?, error = ?, updated_at = ?
			WHERE nation_id = ? AND id = ?`, string(status), string(raw), sum.Rows, msg, now, imp.NationID, imp.ID)
	} else {
		_, err = s.db.Exec(ctx, `UPDATE imports SET status = ?, summary = ?, error = ?, updated_at = ?, finished_at = ?
			WHERE nation_id = ? AND id = ?`, string(status), string(raw), msg, now, now, imp.NationID, imp.ID)
	}
	if err != nil {
		return fmt.Errorf("importer: record import outcome: %w", err)
	}
	return nil
}

// Reject is one line of a rejects file.
type Reject struct {
	Line   int
	Reason string
}

// FirstRejects reads up to n entries of the rejects file of the dry run
// (dry) or of the run; none when there is no such file.
func (s *Imports) FirstRejects(imp *Import, dry bool, n int) ([]Reject, error) {
	f, err := os.Open(s.RejectsPath(imp, dry))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("importer: open rejects: %w", err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.FieldsPerRecord = -1
	if _, err := cr.Read(); err != nil {
		return nil, nil
	}
	var out []Reject
	for len(out) < n {
		rec, err := cr.Read()
		if err != nil {
			break
		}
		if len(rec) < 2 {
			continue
		}
		line, _ := strconv.Atoi(rec[len(rec)-2])
		out = append(out, Reject{Line: line, Reason: rec[len(rec)-1]})
	}
	return out, nil
}

// Reconcile marks failed an import whose job ended without saying so (its
// worker died on the last attempt, or a person cancelled the job), so that
// it can be started again. job is the import's job (nil if gone).
func (s *Imports) Reconcile(ctx context.Context, imp *Import, job *jobs.Job) error {
	if !imp.Status.Busy() || (job != nil && !job.State.Finished()) {
		return nil
	}
	msg := "the import's background job ended without finishing; start it again to complete it"
	if job != nil && job.State == jobs.StateCancelled {
		msg = "the import was cancelled; start it again to complete it"
	}
	_, err := s.db.Exec(ctx, `UPDATE imports SET status = 'failed', error = ?, updated_at = ? WHERE nation_id = ? AND id = ? AND status = ?`,
		msg, store.Millis(time.Now()), imp.NationID, imp.ID, string(imp.Status))
	if err != nil {
		return fmt.Errorf("importer: reconcile import: %w", err)
	}
	imp.Status, imp.Error = StatusFailed, msg
	return nil
}
