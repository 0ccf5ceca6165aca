package crypt

import (
	"context"
	"time"
)

// SetClock replaces a keyring's clock (its refresh interval is measured on it).
func SetClock(k *Keyring, now func() time.Time) { k.now = now }

// SetSleep replaces what a rotation does during its grace period.
func SetSleep(k *Keyring, sleep func(ctx context.Context, d time.Duration) error) { k.sleep = sleep }
