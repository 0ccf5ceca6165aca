package main

import (
	"context"
	"fmt"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/nation"
)

// runKeysRotate gives one nation a new data key and re-encrypts its opinion
// fields under it (internal/crypt.Keyring.Rotate), in one transaction, then
// waits --grace for running processes to notice and sweeps up what they
// wrote under the old key meanwhile.
func runKeysRotate(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("keys rotate", e.stderr)
	cfg.RegisterStorage(fs)
	slug := fs.String("nation", "", "`slug` of the nation (required)")
	grace := fs.Duration("grace", crypt.DefaultGrace, "how long running processes get to switch to the new key before the final sweep re-seals what they wrote meanwhile under the old one (0 when none runs)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *slug == "" {
		return usagef("--nation is required")
	}
	if *grace < 0 {
		return usagef("--grace must not be negative")
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
	k, err := crypt.Of(db)
	if err != nil {
		return err
	}
	k.SetGrace(*grace)
	v, err := k.Rotate(ctx, n.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "rotated the data key of %s (now version %d); running processes load it by themselves\n", n.Slug, v)
	return nil
}

// runKeysRotateMaster re-wraps every nation's data key under a new master
// key. The database then opens only with the new key: point
// MUSTER_MASTER_KEY_FILE at it (and back it up) before the next start.
func runKeysRotateMaster(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("keys rotate-master", e.stderr)
	cfg.RegisterStorage(fs)
	newFile := fs.String("new-key-file", "", "`file` holding the new master key: 32 random bytes, raw or base64 (required)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *newFile == "" {
		return usagef("--new-key-file is required (e.g. head -c 32 /dev/urandom | base64 > new.key)")
	}
	key, err := crypt.ReadKeyFile(*newFile)
	if err != nil {
		return usagef("%v", err)
	}
	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	k, err := crypt.Of(db)
	if err != nil {
		return err
	}
	n, err := k.RotateMaster(ctx, key)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "re-wrapped %d nation keys under %s; from now on set %s=%s (and keep a backup of it apart from the database)\n",
		n, *newFile, crypt.EnvKeyFile, *newFile)
	return nil
}
