package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
)

func runUserCreate(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("user create", e.stderr)
	cfg.RegisterStorage(fs)
	slug := fs.String("nation", "", "`slug` of the nation (required)")
	email := fs.String("email", "", "the staff member's e-mail `address` (required)")
	name := fs.String("name", "", "the staff member's `name`")
	role := fs.String("role", "", "`role` in the nation: admin, organizer or volunteer (required)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (required)")
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
	case *email == "":
		return usagef("--email is required")
	case *role == "":
		return usagef("--role is required (admin, organizer or volunteer)")
	case !*pwStdin:
		return usagef("--password-stdin is required: passwords are never taken as arguments")
	}
	r, err := auth.ParseRole(*role)
	if err != nil {
		return err
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && line == "" {
		return usagef("no password on standard input")
	}
	password := strings.TrimRight(line, "\r\n")

	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := nation.NewStore(db).BySlug(ctx, *slug)
	if err != nil {
		return err
	}
	st := auth.NewStore(db)
	u, err := st.UserByEmail(ctx, *email)
	created := false
	if errors.Is(err, errs.ErrNotFound) {
		u, err = st.CreateUser(ctx, *email, *name, password)
		created = true
	}
	if err != nil {
		return err
	}
	if !created && !auth.CheckPassword(st.PasswordHash(u), password) {
		return errs.Conflict("a staff account with that e-mail exists with another password; it was not changed")
	}
	if err := st.SetMembership(ctx, n.ID, u.ID, r); err != nil {
		return err
	}
	if *jsonOut {
		return printJSON(e.stdout, map[string]any{"id": u.ID, "email": u.Email, "nation": n.Slug, "role": r, "created": created})
	}
	verb := "created"
	if !created {
		verb = "added existing"
	}
	fmt.Fprintf(e.stdout, "%s staff account %s as %s of %s\n", verb, u.Email, r, n.Slug)
	return nil
}
