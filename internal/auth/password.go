package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/muster-org/muster/internal/errs"
)

// Argon2id parameters (RFC 9106's second recommended option, memory lowered
// to 64 MiB so a small server survives a burst of sign-ins).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLength is the shortest password accepted for staff.
const MinPasswordLength = 10

// HashParams are the argon2id cost parameters used for new hashes. The
// parameters are recorded in each hash, so changing them never breaks
// existing passwords.
type HashParams struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// DefaultHashParams are the production costs.
var DefaultHashParams = HashParams{Time: argonTime, MemoryKiB: argonMemory, Threads: argonThreads}

// TestHashParams are deliberately cheap costs for test fixtures only, so
// that suites which sign in hundreds of times stay fast; still argon2id.
var TestHashParams = HashParams{Time: 1, MemoryKiB: 1024, Threads: 1}

// HashPassword returns the PHC-format argon2id hash of password at the
// production cost.
func HashPassword(password string) (string, error) {
	return DefaultHashParams.Hash(password)
}

// Hash returns the PHC-format argon2id hash of password at these costs.
func (p HashParams) Hash(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches a PHC argon2id hash, in
// time independent of where they differ.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	var mem uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := enc.DecodeString(parts[5])
	if err != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// ValidatePassword checks a new password's strength.
func ValidatePassword(password string) error {
	if len([]rune(password)) < MinPasswordLength {
		return errs.InvalidField("password", "the password must be at least %d characters", MinPasswordLength)
	}
	if len(password) > 1024 {
		return errs.InvalidField("password", "the password is longer than 1024 bytes")
	}
	return nil
}
